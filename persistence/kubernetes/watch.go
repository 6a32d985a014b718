package kubernetes

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/orbit-go/orbit/persistence/driver"
)

var _ driver.Watcher = (*Store)(nil)

// watchBuffer is the capacity of a watch's event channel.
const watchBuffer = 256

// Watch streams the changes of the keys under prefix through the API's
// watch of the shard ConfigMaps (driver.Watcher). It lists the shards
// first (the keys each holds and the list's resourceVersion), then watches
// from that resourceVersion: every shard update the API server sends is
// compared with the shard's previous contents, and each key under prefix
// whose version changed is an EventPut, each key gone an EventDelete (in
// key order within one update; per key, in the order the API server
// applied the updates). The channel closes when ctx ends, the store
// closes, or the API server ends the watch (it does after a timeout, or
// when the resourceVersion is too old): the caller then lists and
// watches again. It needs the watch verb on configmaps.
func (s *Store) Watch(ctx context.Context, prefix string) (<-chan driver.Event, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	known := make([]map[string]uint64, len(s.shards)) // per shard: key under prefix → version
	lo := metav1.ListOptions{LabelSelector: s.selector(), Limit: fullListPage}
	rv := ""
	for {
		lctx, cancel := s.opCtx(ctx)
		list, err := s.cms.List(lctx, lo)
		cancel()
		if err != nil {
			return nil, s.wrap(err, "watch: list", prefix)
		}
		if rv == "" {
			rv = list.ResourceVersion
		}
		for k := range list.Items {
			if i, ok := s.shardIndex(list.Items[k].Name); ok {
				if known[i], err = s.keysUnder(&list.Items[k], prefix); err != nil {
					return nil, err
				}
			}
		}
		if lo.Continue = list.Continue; lo.Continue == "" {
			break
		}
	}
	w, err := s.cms.Watch(ctx, metav1.ListOptions{LabelSelector: s.selector(), ResourceVersion: rv})
	if err != nil {
		return nil, s.wrap(err, "watch", prefix)
	}
	ch := make(chan driver.Event, watchBuffer)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(ch)
		defer w.Stop()
		send := func(ev driver.Event) bool {
			select {
			case ch <- ev:
				return true
			case <-ctx.Done():
			case <-s.ctx.Done():
			}
			return false
		}
		for {
			var ev watch.Event
			var ok bool
			select {
			case <-ctx.Done():
				return
			case <-s.ctx.Done():
				return
			case ev, ok = <-w.ResultChan():
			}
			if !ok || ev.Type == watch.Error {
				return
			}
			cm, isCM := ev.Object.(*corev1.ConfigMap)
			if !isCM {
				continue
			}
			i, mine := s.shardIndex(cm.Name)
			if !mine {
				continue
			}
			next := map[string]uint64{}
			if ev.Type != watch.Deleted {
				if next, err = s.keysUnder(cm, prefix); err != nil {
					return // undecodable shard: the caller lists again
				}
				if st, err := s.newShardState(cm); err == nil {
					s.shards[i].observe(st)
				}
			}
			for _, e := range diffShard(known[i], next, cm, prefix) {
				if !send(e) {
					return
				}
			}
			known[i] = next
		}
	}()
	return ch, nil
}

// keysUnder returns the version of every key under prefix in cm.
func (s *Store) keysUnder(cm *corev1.ConfigMap, prefix string) (map[string]uint64, error) {
	st, err := s.newShardState(cm)
	if err != nil {
		return nil, err
	}
	es, err := st.sorted()
	if err != nil {
		return nil, fmt.Errorf("kubernetes %s: %w", s.where, err)
	}
	out := map[string]uint64{}
	for _, e := range es {
		if strings.HasPrefix(e.Key, prefix) {
			out[e.Key] = e.Version.Num()
		}
	}
	return out, nil
}

// diffShard returns the events that take a shard's keys under prefix from
// before to after (cm holds the values of after), in key order.
func diffShard(before, after map[string]uint64, cm *corev1.ConfigMap, prefix string) []driver.Event {
	var evs []driver.Event
	if len(after) > 0 {
		st := &shardState{cm: cm}
		es, _ := st.sorted() // decoded without error by keysUnder
		for _, e := range es {
			if !strings.HasPrefix(e.Key, prefix) {
				continue
			}
			if v, ok := before[e.Key]; !ok || v != e.Version.Num() {
				evs = append(evs, driver.Event{Kind: driver.EventPut, Entry: e})
			}
		}
	}
	var gone []string
	for k := range before {
		if _, ok := after[k]; !ok {
			gone = append(gone, k)
		}
	}
	if len(gone) > 0 {
		slices.Sort(gone)
		for _, k := range gone {
			evs = append(evs, driver.Event{Kind: driver.EventDelete, Entry: driver.Entry{Key: k}})
		}
	}
	return evs
}
