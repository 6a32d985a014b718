package server

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/orbit-go/orbit"
	"github.com/orbit-go/orbit/clock"
	"github.com/orbit-go/orbit/persistence"
)

// nodeCache is the server's short-lived view of the live nodes of each
// namespace, so that a placement or a locate does not list the cluster
// directory on every call. It is refreshed when older than ttl; decisions
// that matter (is a holder really gone?) are confirmed in the directory.
// Readers never lock: a view is immutable and swapped atomically.
type nodeCache struct {
	nodes persistence.ClusterNodeDirectory
	clock clock.Clock
	ttl   time.Duration
	ns    sync.Map // namespace -> *nsNodes
}

type nsNodes struct {
	refresh sync.Mutex // one refresh at a time per namespace
	view    atomic.Pointer[nodeView]
}

// nodeView is one immutable listing of a namespace's live nodes.
type nodeView struct {
	fetched time.Time
	list    []orbit.NodeInfo
	byKey   map[string]orbit.NodeInfo
}

func newNodeCache(d persistence.ClusterNodeDirectory, c clock.Clock, ttl time.Duration) *nodeCache {
	return &nodeCache{nodes: d, clock: c, ttl: ttl}
}

func (c *nodeCache) entry(namespace string) *nsNodes {
	if e, ok := c.ns.Load(namespace); ok {
		return e.(*nsNodes)
	}
	e, _ := c.ns.LoadOrStore(namespace, &nsNodes{})
	return e.(*nsNodes)
}

func (c *nodeCache) fresh(v *nodeView) bool {
	return v != nil && !v.fetched.IsZero() && c.clock.Now().Sub(v.fetched) < c.ttl
}

// get returns a view of the live nodes of namespace, refreshing when stale.
func (c *nodeCache) get(ctx context.Context, namespace string) (*nodeView, error) {
	e := c.entry(namespace)
	if v := e.view.Load(); c.fresh(v) {
		return v, nil
	}
	e.refresh.Lock()
	defer e.refresh.Unlock()
	if v := e.view.Load(); c.fresh(v) { // refreshed while we waited
		return v, nil
	}
	list, err := c.nodes.ListAll(ctx, namespace)
	if err != nil {
		return nil, err
	}
	byKey := make(map[string]orbit.NodeInfo, len(list))
	for _, n := range list {
		byKey[n.ID.Key] = n
	}
	v := &nodeView{fetched: c.clock.Now(), list: list, byKey: byKey}
	e.view.Store(v)
	return v, nil
}

// invalidate forces the next get of namespace to refresh.
func (c *nodeCache) invalidate(namespace string) {
	e := c.entry(namespace)
	if v := e.view.Load(); v != nil {
		stale := *v
		stale.fetched = time.Time{}
		e.view.Store(&stale)
	}
}
