// Package clock provides the time source used by Orbit's lease logic.
//
// Every component that decides whether a lease is expired takes a Clock, so
// that tests can move time explicitly instead of sleeping.
package clock

import (
	"sync"
	"sync/atomic"
	"time"
)

// Clock tells the current time. Implementations must be safe for concurrent use.
type Clock interface {
	Now() time.Time
}

// System is the wall clock.
type System struct{}

// Now returns time.Now().
func (System) Now() time.Time { return time.Now() }

// Manual is a Clock that only moves when told to. The zero value starts at the
// zero time; use NewManual for a realistic starting point.
//
// Now is a single atomic load (readers never contend, so benchmarks that
// use a Manual clock measure the code under test, not the clock); Advance
// and Set are serialised among themselves.
type Manual struct {
	mu  sync.Mutex // serialises Advance and Set
	now atomic.Pointer[time.Time]
}

// NewManual returns a Manual clock set to start.
func NewManual(start time.Time) *Manual {
	m := &Manual{}
	m.now.Store(&start)
	return m
}

// Now returns the clock's current time.
func (m *Manual) Now() time.Time {
	if t := m.now.Load(); t != nil {
		return *t
	}
	return time.Time{}
}

// Advance moves the clock forward by d (d may be negative in tests of skew).
func (m *Manual) Advance(d time.Duration) {
	m.mu.Lock()
	t := m.Now().Add(d)
	m.now.Store(&t)
	m.mu.Unlock()
}

// Set moves the clock to t.
func (m *Manual) Set(t time.Time) {
	m.mu.Lock()
	m.now.Store(&t)
	m.mu.Unlock()
}
