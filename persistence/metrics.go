package persistence

import (
	"github.com/orbit-go/orbit/persistence/decorate"
	"github.com/orbit-go/orbit/persistence/driver"
)

// MetricsSnapshot holds the specification's standard counters for one
// provider (see decorate.MetricsSnapshot).
type MetricsSnapshot = decorate.MetricsSnapshot

// InProcessSampleEvery is how often the metrics decorator times an
// operation of an in-process backend (see decorate.InProcessSampleEvery).
const InProcessSampleEvery = decorate.InProcessSampleEvery

// ErrorCode returns the portable code of err ("" for nil, "unknown" if
// unclassified): the code label of the error metrics.
func ErrorCode(err error) string { return decorate.ErrorCode(err) }

// The caches CacheStatsOf reports, by the name of the cache label of
// orbit_persistence_cache_hits_total and _misses_total.
const (
	// CacheDriver is the backend driver's own cache (driver.CacheStatser:
	// Flash's block cache, the object stores' body cache).
	CacheDriver = "driver"
	// CacheLeaseVersion remembers the last lease record and version read or
	// written, so that a renew or release writes without reading first
	// (backends that are not in-process only).
	CacheLeaseVersion = "lease-version"
	// CacheNodeVersion is the same for node records.
	CacheNodeVersion = "node-version"
	// CacheLeaseLabel remembers the index labels of the last holders
	// written (used by backends with the index capability).
	CacheLeaseLabel = "lease-label"
)

// CacheStat is the lookups of one cache of a provider since it opened.
type CacheStat struct {
	Cache        string // CacheDriver, CacheLeaseVersion, ...
	Hits, Misses uint64
}

// CacheStatsOf returns the caches of p, a provider built by NewProvider,
// with their hits and misses (nil for another Provider). It reads counters
// in memory and never calls the backend. A cache the provider does not
// have (the version caches of an in-process backend, the driver cache of a
// driver without one) is absent.
func CacheStatsOf(p Provider) []CacheStat {
	pp, ok := p.(*provider)
	if !ok {
		return nil
	}
	var out []CacheStat
	if pp.kv.caps.Has(driver.CapCacheStats) {
		h, m := pp.kv.store.CacheStats()
		out = append(out, CacheStat{Cache: CacheDriver, Hits: h, Misses: m})
	}
	if c := pp.addrs.cache; c != nil {
		h, m := c.stats()
		out = append(out, CacheStat{Cache: CacheLeaseVersion, Hits: h, Misses: m})
	}
	if c := pp.nodes.cache; c != nil {
		h, m := c.stats()
		out = append(out, CacheStat{Cache: CacheNodeVersion, Hits: h, Misses: m})
	}
	h, m := pp.addrs.labels.stats()
	out = append(out, CacheStat{Cache: CacheLeaseLabel, Hits: h, Misses: m})
	return out
}
