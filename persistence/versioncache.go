package persistence

import (
	"sync"

	"github.com/orbit-go/orbit/persistence/driver"
)

// DefaultVersionCacheSize bounds the records a provider remembers to renew
// in one round trip.
const DefaultVersionCacheSize = 100_000

// DefaultNodeCacheSize bounds the node records a provider remembers to
// renew in one round trip.
const DefaultNodeCacheSize = 10_000

// versionCache remembers, per key, the last record (a lease or a node) and
// version this provider read or wrote, so that a holder's renew or release
// can send its conditional write without reading first. A stale entry only
// costs a failed condition (the write is conditional on the version), after
// which the record is read as usual: the cache never decides anything on
// its own. Used for backends where a read is a network round trip; a nil
// cache holds nothing.
type versionCache[T any] struct {
	mu  sync.Mutex
	max int
	m   map[string]cached[T]
	// hits and misses count the lookups of get, under mu (CacheStatsOf
	// exports them).
	hits, misses uint64
}

type cached[T any] struct {
	ver driver.Version
	rec T
}

func newVersionCache[T any](max int) *versionCache[T] {
	return &versionCache[T]{max: max, m: make(map[string]cached[T])}
}

func (c *versionCache[T]) get(key string) (cached[T], bool) {
	if c == nil {
		return cached[T]{}, false
	}
	c.mu.Lock()
	e, ok := c.m[key]
	if ok {
		c.hits++
	} else {
		c.misses++
	}
	c.mu.Unlock()
	return e, ok
}

// stats returns the hits and misses of get so far.
func (c *versionCache[T]) stats() (hits, misses uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hits, c.misses
}

func (c *versionCache[T]) put(key string, ver driver.Version, rec T) {
	if c == nil || ver.IsZero() {
		return
	}
	c.mu.Lock()
	if _, ok := c.m[key]; !ok && len(c.m) >= c.max {
		for k := range c.m { // evict an arbitrary entry
			delete(c.m, k)
			break
		}
	}
	c.m[key] = cached[T]{ver: ver, rec: rec}
	c.mu.Unlock()
}

func (c *versionCache[T]) drop(key string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	delete(c.m, key)
	c.mu.Unlock()
}
