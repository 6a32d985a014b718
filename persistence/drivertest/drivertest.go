// Package drivertest is the conformance suite that every Orbit storage
// driver must pass. A backend runs it in a few lines:
//
//	func TestConformance(t *testing.T) {
//		drivertest.RunConformanceTests(t, drivertest.Harness{
//			MakeStore:    func(t *testing.T) driver.Store { return newStoreOnRealServer(t) },
//			Capabilities: []driver.Capability{driver.CapTransactions},
//		})
//	}
//
// Each case is a subtest with a fresh store from MakeStore. The suite tests
// the driver contract directly and the whole lease logic of package
// persistence on top of it, with an injected clock (no sleeps).
package drivertest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/orbit-go/orbit/clock"
	"github.com/orbit-go/orbit/persistence"
	"github.com/orbit-go/orbit/persistence/driver"
)

// Harness adapts one driver to the suite.
type Harness struct {
	// MakeStore returns a new, empty store; it registers its own cleanup
	// with t.Cleanup. Stores of one subtest must not see each other's keys.
	MakeStore func(t *testing.T) driver.Store
	// Capabilities the driver claims. The suite fails if the driver
	// implements an optional interface it does not claim, or claims one it
	// does not implement, and runs the tests of every claimed capability.
	Capabilities []driver.Capability
	// Rounds of the single-activation race (default 100) and racers per
	// round (default 32). Only lower them for a backend documented as slow.
	RaceRounds, Racers int
	// RaceStorePerRound gives every round of the single-activation race a
	// fresh store from MakeStore (the rounds are independent: each races on
	// its own addressable). For emulators whose every request scans all the
	// objects stored, so that the race's cost would grow with the square of
	// the rounds; the rounds and racers stay the same.
	RaceStorePerRound bool
	// ManyLeases is the size of the pagination test (default 10,000).
	ManyLeases int
}

func (h Harness) claims(c driver.Capability) bool { return slices.Contains(h.Capabilities, c) }

// env is one subtest's world: a store, a manual clock and a provider.
type env struct {
	t     *testing.T
	ctx   context.Context
	store driver.Store
	// epoch0 is where the subtest's manual clock starts: the real time
	// when the subtest starts, so that backends which delete records
	// natively (PutOptions.ExpireAt is derived from lease expiry) see
	// real deadlines however long the suite runs.
	epoch0 time.Time
	clock  *clock.Manual
	p      persistence.Provider
	addrs  persistence.AddressableDirectory
	nodes  persistence.ClusterNodeDirectory
}

func (h Harness) newEnv(t *testing.T) *env {
	t.Helper()
	s := h.MakeStore(t)
	t0 := time.Now().UTC().Truncate(time.Millisecond)
	c := clock.NewManual(t0)
	p := persistence.NewProvider("conformance", "test", s, persistence.WithClock(c))
	return &env{t: t, ctx: context.Background(), store: s, epoch0: t0, clock: c, p: p, addrs: p.Addressables(), nodes: p.Nodes()}
}

// provider returns another provider over the same store with its own clock
// (another Orbit server sharing the backend).
func (e *env) provider(c clock.Clock, opts ...persistence.Option) persistence.Provider {
	return persistence.NewProvider("conformance-2", "test", e.store, append([]persistence.Option{persistence.WithClock(c)}, opts...)...)
}

// RunConformanceTests runs the whole suite.
func RunConformanceTests(t *testing.T, h Harness) {
	if h.MakeStore == nil {
		t.Fatal("drivertest: Harness.MakeStore is nil")
	}
	if h.RaceRounds == 0 {
		h.RaceRounds = 100
	}
	if h.Racers == 0 {
		h.Racers = 32
	}
	if h.ManyLeases == 0 {
		h.ManyLeases = 10_000
	}
	t.Run("Capabilities", h.testCapabilities)
	t.Run("Driver", func(t *testing.T) { h.runDriverTests(t) })
	t.Run("Count", func(t *testing.T) { RunCountTests(t, h) })
	t.Run("Addressables", func(t *testing.T) { h.runAddressableTests(t) })
	t.Run("Nodes", func(t *testing.T) { h.runNodeTests(t) })
	t.Run("Transactions", func(t *testing.T) { h.runTransactionTests(t) })
	t.Run("Provider", func(t *testing.T) { h.runProviderTests(t) })
}

func (h Harness) testCapabilities(t *testing.T) {
	s := h.MakeStore(t)
	got := driver.CapabilitiesOf(s)
	for _, c := range driver.AllCapabilities {
		if got.Has(c) && !h.claims(c) {
			t.Errorf("driver implements capability %q but the harness does not claim it", c)
		}
		if !got.Has(c) && h.claims(c) {
			t.Errorf("harness claims capability %q but the driver does not implement it", c)
		}
	}
}
