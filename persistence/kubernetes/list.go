package kubernetes

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/orbit-go/orbit/persistence/driver"
)

// Reading changed shards for a List: up to fetchOneByOne of them are read
// with parallel GETs (at most fetchParallel at a time); more are read with
// one paginated LIST of fullListPage objects per page.
const (
	fetchOneByOne = 8
	fetchParallel = 4
	fullListPage  = 32
)

// List returns the entries whose keys start with prefix, in ascending byte
// order, at most opts.Limit (default DefaultListLimit) per page, strictly
// after opts.StartAfter.
//
// It reads the metadata of every shard in one LIST (a quorum read, no
// data), reads again the shards whose resourceVersion differs from the
// state the store last saw, and merges the keys of all shards. Each shard
// is seen in a state at least as new as the metadata LIST.
func (s *Store) List(ctx context.Context, prefix string, opts driver.ListOptions) (driver.ListPage, error) {
	if err := s.checkOpen(); err != nil {
		return driver.ListPage{}, err
	}
	limit := opts.Limit
	if limit <= 0 {
		limit = DefaultListLimit
	}
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	states, err := s.refreshAll(ctx)
	if err != nil {
		return driver.ListPage{}, s.wrap(err, "list", "")
	}
	// Per shard, the entries after the start and under the prefix.
	start := prefix
	runs := make([][]driver.Entry, 0, len(states))
	for _, st := range states {
		es, err := st.sorted()
		if err != nil {
			return driver.ListPage{}, fmt.Errorf("kubernetes %s: list %q: %w", s.where, prefix, err)
		}
		i := sort.Search(len(es), func(i int) bool { return es[i].Key >= start })
		if opts.StartAfter != "" && opts.StartAfter >= start {
			i = sort.Search(len(es), func(i int) bool { return es[i].Key > opts.StartAfter })
		}
		j := i
		for j < len(es) && j-i <= limit && strings.HasPrefix(es[j].Key, prefix) {
			j++
		}
		if j > i {
			runs = append(runs, es[i:j])
		}
	}
	// Merge: repeatedly take the smallest head (runs are few and short).
	page := driver.ListPage{Entries: make([]driver.Entry, 0, min(limit, 64))}
	for len(runs) > 0 {
		best := 0
		for r := 1; r < len(runs); r++ {
			if runs[r][0].Key < runs[best][0].Key {
				best = r
			}
		}
		if len(page.Entries) == limit {
			page.More = true
			break
		}
		page.Entries = append(page.Entries, runs[best][0])
		if runs[best] = runs[best][1:]; len(runs[best]) == 0 {
			runs = append(runs[:best], runs[best+1:]...)
		}
	}
	return page, nil
}

// refreshAll returns a current state of every shard: it lists the shards'
// metadata and reads the ones whose resourceVersion changed.
func (s *Store) refreshAll(ctx context.Context) ([]*shardState, error) {
	metas, err := s.meta.Resource(configMapsGVR).Namespace(s.opts.Namespace).List(ctx, metav1.ListOptions{LabelSelector: s.selector()})
	if err != nil {
		return nil, err
	}
	current := make([]string, len(s.shards)) // resourceVersion per shard; "" = absent
	for _, m := range metas.Items {
		if i, ok := s.shardIndex(m.Name); ok {
			current[i] = m.ResourceVersion
		}
	}
	states := make([]*shardState, len(s.shards))
	var stale []int
	for i, sh := range s.shards {
		st := sh.cached()
		switch {
		case current[i] == "":
			st = &shardState{}
			sh.observe(st)
		case st == nil || st.rv() != current[i]:
			stale = append(stale, i)
			continue
		}
		states[i] = st
	}
	if len(stale) > fetchOneByOne {
		return states, s.fetchAll(ctx, states)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(stale))
	sem := make(chan struct{}, fetchParallel)
	for k, i := range stale {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			states[i], errs[k] = s.fetch(ctx, s.shards[i])
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return states, nil
}

// fetchAll reads every shard with a paginated LIST and fills states where
// it is nil (shards created since the metadata LIST are read too).
func (s *Store) fetchAll(ctx context.Context, states []*shardState) error {
	seen := make([]bool, len(states))
	lo := metav1.ListOptions{LabelSelector: s.selector(), Limit: fullListPage}
	for {
		list, err := s.cms.List(ctx, lo)
		if err != nil {
			return err
		}
		for k := range list.Items {
			cm := &list.Items[k]
			i, ok := s.shardIndex(cm.Name)
			if !ok {
				continue
			}
			st, err := s.newShardState(cm)
			if err != nil {
				return err
			}
			s.shards[i].observe(st)
			seen[i] = true
			if states[i] == nil {
				states[i] = st
			}
		}
		if lo.Continue = list.Continue; lo.Continue == "" {
			break
		}
	}
	for i, st := range states {
		if st == nil && !seen[i] {
			states[i] = &shardState{} // deleted since the metadata LIST
		}
	}
	return nil
}

// shardIndex parses "<name>-NNN" into a shard index of this store.
func (s *Store) shardIndex(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, s.opts.Name+"-")
	if !ok || len(rest) != 3 {
		return 0, false
	}
	i, err := strconv.Atoi(rest)
	if err != nil || i < 0 || i >= len(s.shards) {
		return 0, false
	}
	return i, true
}
