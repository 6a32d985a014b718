package decorate

import (
	"context"
	"time"

	"github.com/orbit-go/orbit/persistence/driver"
)

//go:generate go run ./internal/gencombos -o narrow_gen.go

// Full is a decorator that implements the whole driver contract: the core
// Store and every optional interface, and Unwrap, which returns the store it
// wraps. Its methods of a capability the inner store lacks are never called
// through the value Narrow returns.
type Full interface {
	driver.Store
	driver.Transactional
	driver.Batcher
	driver.OptionPutter
	indexLister
	expiryMarker
	expiryLister
	driver.Watcher
	driver.HealthChecker
	driver.CacheStatser
	driver.Counter
	inProcessMarker
	unwrapper
}

// The parts of the optional interfaces that no other interface shares:
// driver.Indexer, driver.Expirer and driver.ExpiryLister all embed driver.OptionPutter, so a
// combination embeds OptionPutter once and these beside it.
type (
	indexLister interface {
		ListIndex(ctx context.Context, label string, opts driver.ListOptions) (driver.ListPage, error)
	}
	expiryMarker interface{ ExpiresEntries() }
	expiryLister interface {
		ListExpiring(ctx context.Context, prefix string, before time.Time, limit int) ([]driver.Entry, error)
		ExpiryGranularity() time.Duration
	}
	// inProcessMarker is driver.InProcess under another name: embedded as
	// driver.InProcess, the field InProcess would hide the method InProcess.
	inProcessMarker interface{ InProcess() }
	unwrapper       interface{ Unwrap() driver.Store }
)

// Capability bits of a combination, in the order narrow_gen.go uses.
const (
	bitTxn = 1 << iota
	bitBatch
	bitIndex
	bitExpiry
	bitWatch
	bitHealth
	bitCacheStats
	bitInProcess
	bitExpiryIndex
	bitCount
	numCombos = 1 << iota
)

// maskOf returns the combination bits of the optional interfaces s implements.
func maskOf(s driver.Store) int {
	m := 0
	if _, ok := s.(driver.Transactional); ok {
		m |= bitTxn
	}
	if _, ok := s.(driver.Batcher); ok {
		m |= bitBatch
	}
	if _, ok := s.(driver.Indexer); ok {
		m |= bitIndex
	}
	if _, ok := s.(driver.Expirer); ok {
		m |= bitExpiry
	}
	if _, ok := s.(driver.Watcher); ok {
		m |= bitWatch
	}
	if _, ok := s.(driver.HealthChecker); ok {
		m |= bitHealth
	}
	if _, ok := s.(driver.CacheStatser); ok {
		m |= bitCacheStats
	}
	if _, ok := s.(driver.InProcess); ok {
		m |= bitInProcess
	}
	if _, ok := s.(driver.ExpiryLister); ok {
		m |= bitExpiryIndex
	}
	if _, ok := s.(driver.Counter); ok {
		m |= bitCount
	}
	return m
}

// Narrow returns full as a driver.Store that implements exactly the
// optional interfaces inner implements (and Unwrap): every call goes to
// full, and a type assertion for a capability inner lacks fails, as it
// would on inner. full normally wraps inner.
func Narrow(inner driver.Store, full Full) driver.Store {
	return combos[maskOf(inner)](full)
}

// Unwrap returns the store under a decorated one (s itself if s is not
// decorated).
func Unwrap(s driver.Store) driver.Store {
	if u, ok := s.(unwrapper); ok {
		return u.Unwrap()
	}
	return s
}

// Innermost unwraps s until it reaches a store that is not decorated: the
// backend's own driver.
func Innermost(s driver.Store) driver.Store {
	for {
		u, ok := s.(unwrapper)
		if !ok {
			return s
		}
		s = u.Unwrap()
	}
}
