package driver

import (
	"sort"
	"strings"
)

// Capability names one optional interface of a driver.
type Capability string

// The optional capabilities, declared in one place. The conformance suite
// checks them both ways: a driver that claims one must pass its tests, and a
// driver that does not claim it must not implement the interface.
const (
	CapTransactions Capability = "transactions" // Transactional
	CapWatch        Capability = "watch"        // Watcher
	CapHealth       Capability = "health"       // HealthChecker
	CapCacheStats   Capability = "cache-stats"  // CacheStatser
	CapIndex        Capability = "index"        // Indexer
	CapExpiry       Capability = "expiry"       // Expirer
	CapBatch        Capability = "batch"        // Batcher
	CapExpiryIndex  Capability = "expiry-index" // ExpiryLister
	CapCount        Capability = "count"        // Counter
)

// AllCapabilities lists every capability the contract defines.
var AllCapabilities = []Capability{CapTransactions, CapWatch, CapHealth, CapCacheStats, CapIndex, CapExpiry, CapBatch, CapExpiryIndex, CapCount}

// Capabilities is a set of capabilities.
type Capabilities map[Capability]bool

// CapabilitiesOf discovers what s implements, by type assertion.
func CapabilitiesOf(s Store) Capabilities {
	c := Capabilities{}
	if _, ok := s.(Transactional); ok {
		c[CapTransactions] = true
	}
	if _, ok := s.(Watcher); ok {
		c[CapWatch] = true
	}
	if _, ok := s.(HealthChecker); ok {
		c[CapHealth] = true
	}
	if _, ok := s.(CacheStatser); ok {
		c[CapCacheStats] = true
	}
	if _, ok := s.(Indexer); ok {
		c[CapIndex] = true
	}
	if _, ok := s.(Expirer); ok {
		c[CapExpiry] = true
	}
	if _, ok := s.(Batcher); ok {
		c[CapBatch] = true
	}
	if _, ok := s.(ExpiryLister); ok {
		c[CapExpiryIndex] = true
	}
	if _, ok := s.(Counter); ok {
		c[CapCount] = true
	}
	return c
}

// Has reports whether c contains cap.
func (c Capabilities) Has(cap Capability) bool { return c[cap] }

// String lists the capabilities in order, comma-separated.
func (c Capabilities) String() string {
	names := make([]string, 0, len(c))
	for k, ok := range c {
		if ok {
			names = append(names, string(k))
		}
	}
	sort.Strings(names)
	return strings.Join(names, ",")
}
