package objstore

import (
	"sync"
	"sync/atomic"
)

// bodyCache keeps decoded values by object name and entity tag. An object
// is never modified (every write creates a new name, and a re-created name
// has a new tag), so an entry is never stale; eviction is random, which
// costs nothing to maintain.
type bodyCache struct {
	mu      sync.Mutex
	max     int
	m       map[cacheKey][]byte
	hits    atomic.Uint64
	misses  atomic.Uint64
	enabled bool
}

type cacheKey struct{ name, etag string }

func newBodyCache(max int) *bodyCache {
	return &bodyCache{max: max, m: make(map[cacheKey][]byte), enabled: max > 0}
}

func (c *bodyCache) get(name, etag string) ([]byte, bool) {
	if !c.enabled {
		return nil, false
	}
	c.mu.Lock()
	v, ok := c.m[cacheKey{name, etag}]
	c.mu.Unlock()
	if ok {
		c.hits.Add(1)
	} else {
		c.misses.Add(1)
	}
	return v, ok
}

func (c *bodyCache) put(name, etag string, v []byte) {
	if !c.enabled {
		return
	}
	c.mu.Lock()
	if len(c.m) >= c.max {
		for k := range c.m { // map iteration order is random
			delete(c.m, k)
			break
		}
	}
	c.m[cacheKey{name, etag}] = v
	c.mu.Unlock()
}

func (c *bodyCache) stats() (hits, misses uint64) { return c.hits.Load(), c.misses.Load() }
