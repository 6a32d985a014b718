package server

import (
	"context"
	"sync"
	"time"

	"github.com/orbit-go/orbit/clock"
	"github.com/orbit-go/orbit/persistence"
)

// nodeCache is the server's short-lived view of the live nodes of each
// namespace, so that a placement or a locate does not list the cluster
// directory on every call. It is refreshed when older than ttl; decisions
// that matter (is a holder really gone?) are confirmed in the directory.
type nodeCache struct {
	nodes persistence.ClusterNodeDirectory
	clock clock.Clock
	ttl   time.Duration

	mu sync.Mutex
	ns map[string]*nsNodes
}

type nsNodes struct {
	mu      sync.Mutex // serialises refreshes of one namespace
	fetched time.Time
	list    []persistence.NodeInfo
	byKey   map[string]persistence.NodeInfo
}

func newNodeCache(d persistence.ClusterNodeDirectory, c clock.Clock, ttl time.Duration) *nodeCache {
	return &nodeCache{nodes: d, clock: c, ttl: ttl, ns: map[string]*nsNodes{}}
}

// get returns the live nodes of namespace, refreshing when stale.
func (c *nodeCache) get(ctx context.Context, namespace string) (*nsNodes, error) {
	c.mu.Lock()
	e, ok := c.ns[namespace]
	if !ok {
		e = &nsNodes{}
		c.ns[namespace] = e
	}
	c.mu.Unlock()
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.fetched.IsZero() && c.clock.Now().Sub(e.fetched) < c.ttl {
		return e, nil
	}
	list, err := c.nodes.ListAll(ctx, namespace)
	if err != nil {
		return nil, err
	}
	byKey := make(map[string]persistence.NodeInfo, len(list))
	for _, n := range list {
		byKey[n.ID.Key] = n
	}
	// Readers hold the old slices; replace, never mutate.
	e.list, e.byKey, e.fetched = list, byKey, c.clock.Now()
	return e, nil
}

// invalidate forces the next get of namespace to refresh.
func (c *nodeCache) invalidate(namespace string) {
	c.mu.Lock()
	e, ok := c.ns[namespace]
	c.mu.Unlock()
	if ok {
		e.mu.Lock()
		e.fetched = time.Time{}
		e.mu.Unlock()
	}
}

// snapshot returns the cached nodes of namespace (after get).
func (e *nsNodes) snapshot() ([]persistence.NodeInfo, map[string]persistence.NodeInfo) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.list, e.byKey
}
