package persistence

import (
	"sync"

	"github.com/orbit-go/orbit/persistence/driver"
)

// DefaultVersionCacheSize bounds the records a provider remembers to renew
// in one round trip.
const DefaultVersionCacheSize = 100_000

// versionCache remembers, per lease key, the last record and version this
// provider read or wrote, so that a holder's renew or release can send its
// conditional write without reading first. A stale entry only costs a failed
// condition (the write is conditional on the version), after which the
// record is read as usual: the cache never decides anything on its own.
// Used for backends where a read is a network round trip (no native index).
type versionCache struct {
	mu  sync.Mutex
	max int
	m   map[string]cachedLease
}

type cachedLease struct {
	ver driver.Version
	rec leaseRecord
}

func newVersionCache(max int) *versionCache {
	return &versionCache{max: max, m: make(map[string]cachedLease)}
}

func (c *versionCache) get(key string) (cachedLease, bool) {
	if c == nil {
		return cachedLease{}, false
	}
	c.mu.Lock()
	e, ok := c.m[key]
	c.mu.Unlock()
	return e, ok
}

func (c *versionCache) put(key string, ver driver.Version, rec leaseRecord) {
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
	c.m[key] = cachedLease{ver: ver, rec: rec}
	c.mu.Unlock()
}

func (c *versionCache) drop(key string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	delete(c.m, key)
	c.mu.Unlock()
}
