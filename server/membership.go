package server

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/orbit-go/orbit"
	"github.com/orbit-go/orbit/persistence"
)

// membership follows the cluster directory's native watch (memory, etcd,
// Kubernetes) so that a join, a departure or an update seen by any server
// reaches this one at once: the node cache of the namespace is
// invalidated (the next placement sees the new member) and the WatchNodes
// streams of the namespace are woken. Renewals (only ExpiresAt moved) wake
// nobody. Without a native watch, nothing runs and the cache TTL and the
// streams' polling do the work.
type membership struct {
	mu   sync.Mutex
	subs map[string]map[chan struct{}]struct{} // namespace -> wake channels
	// active is true while the directory's watch is open.
	active atomic.Bool
}

func newMembership() *membership {
	return &membership{subs: map[string]map[chan struct{}]struct{}{}}
}

// watching reports whether changes are pushed now (a stream may poll
// slowly); false before the watch opens and while it is being reopened.
func (m *membership) watching() bool { return m.active.Load() }

// subscribe returns a channel that receives (coalesced) a value after a
// membership change in namespace, and the function that unsubscribes.
func (m *membership) subscribe(namespace string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	m.mu.Lock()
	if m.subs[namespace] == nil {
		m.subs[namespace] = map[chan struct{}]struct{}{}
	}
	m.subs[namespace][ch] = struct{}{}
	m.mu.Unlock()
	return ch, func() {
		m.mu.Lock()
		delete(m.subs[namespace], ch)
		if len(m.subs[namespace]) == 0 {
			delete(m.subs, namespace)
		}
		m.mu.Unlock()
	}
}

func (m *membership) wake(namespace string) {
	m.mu.Lock()
	for ch := range m.subs[namespace] {
		select {
		case ch <- struct{}{}:
		default: // a wake-up is pending already
		}
	}
	m.mu.Unlock()
}

// followMembership runs the watch until ctx ends, reopening it (with backoff) when
// the backend ends it. It returns at once when the directory has no
// native watch.
func (s *Server) followMembership(ctx context.Context) {
	retry := &backoff.ExponentialBackOff{InitialInterval: 100 * time.Millisecond, RandomizationFactor: 0.5,
		Multiplier: 2, MaxInterval: 5 * time.Second}
	retry.Reset()
	for ctx.Err() == nil {
		changes, err := s.nodes.WatchNodes(ctx, "")
		if errors.Is(err, orbit.ErrUnsupported) {
			return
		}
		if err == nil {
			s.members.active.Store(true)
			retry.Reset()
			for c := range changes {
				if c.Err != nil {
					s.log.Warn("membership watch ended; watching again", "error", c.Err)
					break
				}
				s.applyChange(ctx, c)
			}
			s.members.active.Store(false)
			if ctx.Err() != nil {
				return
			}
		} else {
			s.log.Warn("membership watch failed; retrying", "error", err)
		}
		// Whatever happened while the watch was away is read on demand.
		s.cache.invalidateAll()
		select {
		case <-ctx.Done():
			return
		case <-time.After(retry.NextBackOff()):
		}
	}
}

// applyChange invalidates and wakes for a membership change; a renewal of
// a node the cache holds in the same incarnation, URL and status is none.
func (s *Server) applyChange(ctx context.Context, c persistence.NodeChange) {
	ns := c.ID.Namespace
	if !c.Removed {
		if s.cache.peek(ns) == nil {
			// A namespace this server has not looked at: load it, so that
			// its next renewals are recognised as such.
			if _, err := s.cache.get(ctx, ns); err == nil {
				s.members.wake(ns)
				return
			}
		}
		if v := s.cache.peek(ns); v != nil {
			if old, ok := v.byKey[c.ID.Key]; ok && old.Lease.Incarnation == c.Node.Lease.Incarnation &&
				old.URL == c.Node.URL && old.Status == c.Node.Status {
				return // a renewal
			}
		}
		s.cache.noteJoined(ns)
	} else {
		s.cache.invalidate(ns)
	}
	s.members.wake(ns)
}
