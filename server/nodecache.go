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
//
// Only namespaces that have live nodes are kept: asking about a namespace
// without nodes lists it and keeps nothing, and a namespace found empty on
// a refresh is dropped. So requests naming ever new namespaces leave no
// state behind, and the number of entries is the number of namespaces
// with nodes (which the join admission bounds, see joinAdmission).
type nodeCache struct {
	nodes persistence.ClusterNodeDirectory
	clock clock.Clock
	ttl   time.Duration
	ns    sync.Map // namespace -> *nsNodes
	// hits and misses count get: a fresh view, or a listing of the
	// directory (metrics_cluster.go exports them).
	hits, misses atomic.Uint64
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

func (c *nodeCache) fresh(v *nodeView) bool {
	return v != nil && !v.fetched.IsZero() && c.clock.Now().Sub(v.fetched) < c.ttl
}

// list reads namespace's live nodes from the directory into a new view.
func (c *nodeCache) list(ctx context.Context, namespace string) (*nodeView, error) {
	list, err := c.nodes.ListAll(ctx, namespace)
	if err != nil {
		return nil, err
	}
	byKey := make(map[string]orbit.NodeInfo, len(list))
	for _, n := range list {
		byKey[n.ID.Key] = n
	}
	return &nodeView{fetched: c.clock.Now(), list: list, byKey: byKey}, nil
}

// get returns a view of the live nodes of namespace, refreshing when stale.
func (c *nodeCache) get(ctx context.Context, namespace string) (*nodeView, error) {
	if e, ok := c.ns.Load(namespace); ok {
		n := e.(*nsNodes)
		if v := n.view.Load(); c.fresh(v) {
			c.hits.Add(1)
			return v, nil
		}
		c.misses.Add(1)
		return c.refresh(ctx, namespace, n)
	}
	c.misses.Add(1)
	v, err := c.list(ctx, namespace)
	if err != nil || len(v.list) == 0 {
		return v, err // nothing kept for a namespace without nodes
	}
	e, _ := c.ns.LoadOrStore(namespace, &nsNodes{})
	e.(*nsNodes).view.Store(v)
	return v, nil
}

// refresh lists namespace again into its entry e (one caller at a time),
// dropping the entry when the namespace has no node left.
func (c *nodeCache) refresh(ctx context.Context, namespace string, e *nsNodes) (*nodeView, error) {
	e.refresh.Lock()
	defer e.refresh.Unlock()
	if v := e.view.Load(); c.fresh(v) { // refreshed while we waited
		return v, nil
	}
	v, err := c.list(ctx, namespace)
	if err != nil {
		return nil, err
	}
	e.view.Store(v)
	if len(v.list) == 0 {
		c.ns.CompareAndDelete(namespace, e)
	}
	return v, nil
}

// invalidate forces the next get of namespace to refresh (a namespace the
// cache does not hold needs nothing).
func (c *nodeCache) invalidate(namespace string) {
	e, ok := c.ns.Load(namespace)
	if !ok {
		return
	}
	n := e.(*nsNodes)
	if v := n.view.Load(); v != nil {
		stale := *v
		stale.fetched = time.Time{}
		n.view.Store(&stale)
	}
}

// noteJoined records that namespace has a node (one just joined), so it
// counts among the namespaces; its view is stale and is listed on use.
func (c *nodeCache) noteJoined(namespace string) {
	if _, loaded := c.ns.LoadOrStore(namespace, &nsNodes{}); loaded {
		c.invalidate(namespace)
	}
}

// namespaces counts the namespaces held, other than except.
func (c *nodeCache) namespaces(except string) int {
	n := 0
	c.ns.Range(func(k, _ any) bool {
		if k.(string) != except {
			n++
		}
		return true
	})
	return n
}

// prune refreshes every entry that is not fresh, dropping the namespaces
// whose nodes are all gone; the first error is returned (the others'
// entries stay, so prune never forgets a namespace it could not check).
func (c *nodeCache) prune(ctx context.Context) error {
	var first error
	c.ns.Range(func(k, e any) bool {
		n := e.(*nsNodes)
		if !c.fresh(n.view.Load()) {
			if _, err := c.refresh(ctx, k.(string), n); err != nil && first == nil {
				first = err
			}
		}
		return ctx.Err() == nil
	})
	return first
}

// size is how many namespaces the cache holds (tests).
func (c *nodeCache) size() int { return c.namespaces("") }

// peek returns namespace's current view, fresh or not, without listing
// (nil when the cache holds none).
func (c *nodeCache) peek(namespace string) *nodeView {
	e, ok := c.ns.Load(namespace)
	if !ok {
		return nil
	}
	return e.(*nsNodes).view.Load()
}

// invalidateAll marks every view stale.
func (c *nodeCache) invalidateAll() {
	c.ns.Range(func(k, _ any) bool {
		c.invalidate(k.(string))
		return true
	})
}
