package drivertest

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orbit-go/orbit/clock"
	"github.com/orbit-go/orbit/persistence"
	"github.com/orbit-go/orbit/persistence/driver"
)

const ttl = 10 * time.Second

func ref(key string) persistence.AddressableReference {
	return persistence.AddressableReference{Namespace: "default", Type: "Greeter", Key: persistence.StringKey(key)}
}

func node(key string) persistence.NodeID { return persistence.NodeID{Namespace: "default", Key: key} }

func (h Harness) runAddressableTests(t *testing.T) {
	t.Run("PlaceGet", h.testPlaceGet)
	t.Run("Validation", h.testValidation)
	t.Run("TypedKeysAreDistinct", h.testTypedKeys)
	t.Run("SingleActivationRace", h.testSingleActivationRace)
	t.Run("RenewReleaseFencing", h.testRenewReleaseFencing)
	t.Run("IncarnationFencing", h.testIncarnationFencing)
	t.Run("UpdateCAS", h.testUpdateCAS)
	t.Run("Takeover", h.testTakeover)
	t.Run("TwoServersRenewAndTakeover", h.testTwoServers)
	t.Run("EpochsGrow", h.testEpochsGrow)
	t.Run("ExpiryAndCleanup", h.testExpiryAndCleanup)
	t.Run("RenewBeatsConcurrentCleanup", func(t *testing.T) { h.testRenewBeatsCleanup(t, false) })
	if h.claims(driver.CapExpiryIndex) {
		t.Run("RenewBeatsConcurrentSweepOfDue", func(t *testing.T) { h.testRenewBeatsCleanup(t, true) })
	}
	t.Run("ListByNodeExact", h.testListByNodeExact)
	t.Run("StoreEpochRule", h.testStoreEpochRule)
	t.Run("Bulk", h.testBulk)
	t.Run("GetMany", h.testGetMany)
	t.Run("Paginate", h.testPaginate)
	t.Run("Namespaces", h.testNamespaces)
	t.Run("CorruptRecord", h.testCorruptRecord)
}

func (h Harness) testPlaceGet(t *testing.T) {
	e := h.newEnv(t)
	if _, err := e.addrs.Get(e.ctx, ref("a")); !errors.Is(err, persistence.ErrNotFound) {
		t.Fatalf("Get before Place = %v, want ErrNotFound", err)
	}
	l, err := e.addrs.Place(e.ctx, ref("a"), node("n1"), ttl)
	if err != nil {
		t.Fatal(err)
	}
	if l.Node != node("n1") || l.Epoch == 0 || !l.ExpiresAt.Equal(e.epoch0.Add(ttl)) || !l.CreatedAt.Equal(e.epoch0) ||
		!l.RenewAt.After(l.CreatedAt) || !l.RenewAt.Before(l.ExpiresAt) {
		t.Fatalf("Place returned %+v", l)
	}
	got, err := e.addrs.Get(e.ctx, ref("a"))
	if err != nil || !got.Equal(l) {
		t.Fatalf("Get = %+v, %v; want %+v", got, err, l)
	}
	// Same node again: idempotent.
	again, err := e.addrs.Place(e.ctx, ref("a"), node("n1"), ttl)
	if err != nil || !again.Equal(l) {
		t.Fatalf("Place by the holder = %+v, %v; want the existing lease", again, err)
	}
	// Another node: conflict carrying the owner.
	cur, err := e.addrs.Place(e.ctx, ref("a"), node("n2"), ttl)
	var ce *persistence.LeaseConflictError
	if !errors.Is(err, persistence.ErrConflict) || !errors.As(err, &ce) || !ce.Current.Equal(l) || !cur.Equal(l) {
		t.Fatalf("Place by another node = %+v, %v; want LeaseConflictError with the current lease", cur, err)
	}
}

func (h Harness) testValidation(t *testing.T) {
	e := h.newEnv(t)
	bad := []struct {
		name  string
		ref   persistence.AddressableReference
		field string
	}{
		{"empty type", persistence.AddressableReference{Namespace: "default", Key: persistence.StringKey("k")}, "reference.type"},
		{"empty namespace", persistence.AddressableReference{Type: "T", Key: persistence.StringKey("k")}, "reference.namespace"},
		{"invalid utf8", persistence.AddressableReference{Namespace: "default", Type: "T", Key: persistence.StringKey("\xff")}, "reference.key"},
		{"oversized key", persistence.AddressableReference{Namespace: "default", Type: "T", Key: persistence.StringKey(string(make([]byte, 300)))}, "reference.key"},
		{"control char", persistence.AddressableReference{Namespace: "default", Type: "T\n", Key: persistence.NoKey()}, "reference.type"},
	}
	for _, b := range bad {
		_, err := e.addrs.Place(e.ctx, b.ref, node("n1"), ttl)
		if !errors.Is(err, persistence.ErrInvalidArgument) || !strings.Contains(err.Error(), b.field) {
			t.Errorf("%s: Place = %v, want ErrInvalidArgument naming %s", b.name, err, b.field)
		}
	}
	if _, err := e.addrs.Place(e.ctx, ref("a"), persistence.NodeID{}, ttl); !errors.Is(err, persistence.ErrInvalidArgument) {
		t.Errorf("Place with empty node = %v, want ErrInvalidArgument", err)
	}
	if _, err := e.addrs.Place(e.ctx, ref("a"), node("n1"), 0); !errors.Is(err, persistence.ErrInvalidArgument) || !strings.Contains(err.Error(), "ttl") {
		t.Errorf("Place with ttl 0 = %v, want ErrInvalidArgument naming ttl", err)
	}
	if _, err := e.addrs.List(e.ctx, persistence.PageRequest{PageToken: "not-a-token!"}); !errors.Is(err, persistence.ErrInvalidArgument) {
		t.Errorf("List with a bad token = %v, want ErrInvalidArgument", err)
	}
}

func (h Harness) testTypedKeys(t *testing.T) {
	e := h.newEnv(t)
	keys := []persistence.AddressableKey{
		persistence.StringKey("42"), persistence.Int32Key(42), persistence.Int64Key(42), persistence.NoKey(),
		persistence.StringKey("a/b"), persistence.StringKey("a%2Fb"), persistence.StringKey(""),
	}
	for i, k := range keys {
		r := persistence.AddressableReference{Namespace: "default", Type: "T", Key: k}
		if k.Kind() == persistence.KeyString && k.StringValue() == "" {
			if _, err := e.addrs.Place(e.ctx, r, node("n1"), ttl); !errors.Is(err, persistence.ErrInvalidArgument) {
				t.Fatalf("empty string key = %v, want ErrInvalidArgument", err)
			}
			continue
		}
		if _, err := e.addrs.Place(e.ctx, r, node(fmt.Sprint("n", i)), ttl); err != nil {
			t.Fatalf("key %s: %v (collides with another key kind?)", k, err)
		}
	}
	for i, k := range keys[:6] {
		l, err := e.addrs.Get(e.ctx, persistence.AddressableReference{Namespace: "default", Type: "T", Key: k})
		if err != nil || l.Node != node(fmt.Sprint("n", i)) || l.Reference.Key != k {
			t.Fatalf("key %s: Get = %+v, %v", k, l, err)
		}
	}
}

// testSingleActivationRace: in every round, Racers nodes race to place one
// addressable that has no record (create-only path), then, once that lease
// has expired, race again to take it over (compare-and-swap path). Each race
// has exactly one winner, and every loser is told who won.
func (h Harness) testSingleActivationRace(t *testing.T) {
	e := h.newEnv(t)
	for round := 0; round < h.RaceRounds; round++ {
		if h.RaceStorePerRound && round > 0 {
			e = h.newEnv(t)
		}
		r := ref(fmt.Sprint("race-", round))
		first := h.placeRace(t, e, r, round, "fresh")
		e.clock.Advance(ttl)
		second := h.placeRace(t, e, r, round, "takeover")
		if second.Epoch <= first.Epoch {
			t.Fatalf("round %d: takeover epoch %d <= first epoch %d", round, second.Epoch, first.Epoch)
		}
	}
}

func (h Harness) placeRace(t *testing.T, e *env, r persistence.AddressableReference, round int, phase string) persistence.AddressableLease {
	t.Helper()
	var mu sync.Mutex
	var winner persistence.AddressableLease
	wins, errs := race(h.Racers, func(i int) error {
		l, err := e.addrs.Place(e.ctx, r, node(fmt.Sprint(phase, "-n", i)), ttl)
		if err == nil {
			mu.Lock()
			winner = l
			mu.Unlock()
		}
		return err
	})
	if wins != 1 {
		t.Fatalf("round %d (%s): %d nodes won the placement, want exactly 1", round, phase, wins)
	}
	for _, err := range errs {
		var ce *persistence.LeaseConflictError
		if !errors.As(err, &ce) || ce.Current.Node != winner.Node || ce.Current.Epoch != winner.Epoch {
			t.Fatalf("round %d (%s): loser got %v, want a conflict naming winner %s", round, phase, err, winner.Node)
		}
	}
	got, err := e.addrs.Get(e.ctx, r)
	if err != nil || !got.Equal(winner) {
		t.Fatalf("round %d (%s): stored lease %+v, %v; winner %+v", round, phase, got, err, winner)
	}
	return winner
}

func (h Harness) testRenewReleaseFencing(t *testing.T) {
	e := h.newEnv(t)
	l, err := e.addrs.Place(e.ctx, ref("a"), node("n1"), ttl)
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(ttl / 2)
	r, err := e.addrs.Renew(e.ctx, ref("a"), node("n1"), l.Epoch, ttl)
	if err != nil {
		t.Fatal(err)
	}
	if r.Epoch != l.Epoch || !r.ExpiresAt.Equal(e.epoch0.Add(ttl/2+ttl)) || !r.CreatedAt.Equal(l.CreatedAt) {
		t.Fatalf("Renew returned %+v", r)
	}
	if _, err := e.addrs.Renew(e.ctx, ref("a"), node("n1"), l.Epoch-1, ttl); !errors.Is(err, persistence.ErrFenced) {
		t.Fatalf("Renew with a stale epoch = %v, want ErrFenced", err)
	}
	if _, err := e.addrs.Renew(e.ctx, ref("a"), node("n2"), l.Epoch, ttl); !errors.Is(err, persistence.ErrFenced) {
		t.Fatalf("Renew by another node = %v, want ErrFenced", err)
	}
	if err := e.addrs.Release(e.ctx, ref("a"), node("n1"), l.Epoch+1); !errors.Is(err, persistence.ErrFenced) {
		t.Fatalf("Release with a wrong epoch = %v, want ErrFenced", err)
	}
	if err := e.addrs.Release(e.ctx, ref("a"), node("n2"), l.Epoch); !errors.Is(err, persistence.ErrFenced) {
		t.Fatalf("Release by another node = %v, want ErrFenced", err)
	}
	if got, _ := e.addrs.Get(e.ctx, ref("a")); !got.Equal(r) {
		t.Fatalf("fenced calls changed the lease: %+v", got)
	}
	if err := e.addrs.Release(e.ctx, ref("a"), node("n1"), l.Epoch); err != nil {
		t.Fatalf("Release by the holder: %v", err)
	}
	if _, err := e.addrs.Get(e.ctx, ref("a")); !errors.Is(err, persistence.ErrNotFound) {
		t.Fatalf("Get after Release = %v, want ErrNotFound", err)
	}
	if _, err := e.addrs.Renew(e.ctx, ref("a"), node("n1"), l.Epoch, ttl); !errors.Is(err, persistence.ErrNotFound) {
		t.Fatalf("Renew after Release = %v, want ErrNotFound", err)
	}
	// Expired: the old holder cannot renew, even with its epoch.
	l2, err := e.addrs.Place(e.ctx, ref("b"), node("n1"), ttl)
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(ttl)
	if _, err := e.addrs.Renew(e.ctx, ref("b"), node("n1"), l2.Epoch, ttl); !errors.Is(err, persistence.ErrNotFound) {
		t.Fatalf("Renew of an expired lease = %v, want ErrNotFound", err)
	}
}

func (h Harness) testUpdateCAS(t *testing.T) {
	e := h.newEnv(t)
	l, err := e.addrs.Place(e.ctx, ref("u"), node("n1"), ttl)
	if err != nil {
		t.Fatal(err)
	}
	want := l
	want.ExpiresAt = l.ExpiresAt.Add(time.Minute)
	want.RenewAt = l.RenewAt.Add(time.Minute)
	got, err := e.addrs.Update(e.ctx, want)
	if err != nil || !got.Equal(want) {
		t.Fatalf("Update = %+v, %v; want %+v", got, err, want)
	}
	stale := want
	stale.Epoch++
	if _, err := e.addrs.Update(e.ctx, stale); !errors.Is(err, persistence.ErrFenced) {
		t.Fatalf("Update with another epoch = %v, want ErrFenced", err)
	}
	// Racing updaters of one lease all succeed (each is a CAS with retry) and the lease stays consistent.
	wins, errs := race(8, func(i int) error {
		u := want
		u.ExpiresAt = want.ExpiresAt.Add(time.Duration(i) * time.Second)
		_, err := e.addrs.Update(e.ctx, u)
		return err
	})
	if wins != 8 {
		t.Fatalf("%d of 8 holder updates succeeded: %v", wins, errs)
	}
}

func (h Harness) testTakeover(t *testing.T) {
	e := h.newEnv(t)
	l, err := e.addrs.Place(e.ctx, ref("t"), node("dead"), ttl)
	if err != nil {
		t.Fatal(err)
	}
	// Racing takeovers of the same dead holder: exactly one wins.
	var mu sync.Mutex
	var winner persistence.AddressableLease
	wins, errs := race(h.Racers, func(i int) error {
		nl, err := e.addrs.Takeover(e.ctx, ref("t"), node("dead"), l.Epoch, node(fmt.Sprint("heir", i)), ttl)
		if err == nil {
			mu.Lock()
			winner = nl
			mu.Unlock()
		}
		return err
	})
	if wins != 1 {
		t.Fatalf("%d takeovers won, want exactly 1", wins)
	}
	for _, err := range errs {
		if !errors.Is(err, persistence.ErrConflict) {
			t.Fatalf("losing takeover = %v, want a conflict naming the winner", err)
		}
	}
	if winner.Epoch <= l.Epoch {
		t.Fatalf("takeover epoch %d <= %d", winner.Epoch, l.Epoch)
	}
	// The old holder is fenced; a stale takeover too.
	if _, err := e.addrs.Renew(e.ctx, ref("t"), node("dead"), l.Epoch, ttl); !errors.Is(err, persistence.ErrFenced) {
		t.Fatalf("renew by the replaced holder = %v, want ErrFenced", err)
	}
	if got := listByNode(t, e, winner.Node, 0); len(got) != 1 {
		t.Fatalf("ListByNode(new holder) = %v", got)
	}
	if got := listByNode(t, e, node("dead"), 0); len(got) != 0 {
		t.Fatalf("ListByNode(old holder) = %v", got)
	}
	e.clock.Advance(ttl)
	if _, err := e.addrs.Takeover(e.ctx, ref("t"), node("dead"), l.Epoch, node("late"), ttl); !errors.Is(err, persistence.ErrFenced) {
		t.Fatalf("stale takeover = %v, want ErrFenced", err)
	}
}

// testTwoServers: two providers over one store (two Orbit servers). Each
// one's view of a record may be stale; the conditional writes keep them
// right: renewals through either succeed, and once the lease was taken over
// through one, the other fences the old holder.
func (h Harness) testTwoServers(t *testing.T) {
	e := h.newEnv(t)
	other := e.provider(e.clock).Addressables()
	l, err := e.addrs.Place(e.ctx, ref("two"), node("n1"), ttl)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if _, err := e.addrs.Renew(e.ctx, ref("two"), node("n1"), l.Epoch, ttl); err != nil {
			t.Fatalf("renew through server 1: %v", err)
		}
		if _, err := other.Renew(e.ctx, ref("two"), node("n1"), l.Epoch, ttl); err != nil {
			t.Fatalf("renew through server 2: %v", err)
		}
	}
	nl, err := other.Takeover(e.ctx, ref("two"), node("n1"), l.Epoch, node("n2"), ttl)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.addrs.Renew(e.ctx, ref("two"), node("n1"), l.Epoch, ttl); !errors.Is(err, persistence.ErrFenced) {
		t.Fatalf("renew of the replaced lease through server 1 = %v, want ErrFenced", err)
	}
	if err := e.addrs.Release(e.ctx, ref("two"), node("n1"), l.Epoch); !errors.Is(err, persistence.ErrFenced) {
		t.Fatalf("release of the replaced lease through server 1 = %v, want ErrFenced", err)
	}
	if got, err := e.addrs.Renew(e.ctx, ref("two"), node("n2"), nl.Epoch, ttl); err != nil || got.Node != node("n2") {
		t.Fatalf("renew by the new holder through server 1 = %+v, %v", got, err)
	}
}

func (h Harness) testEpochsGrow(t *testing.T) {
	e := h.newEnv(t)
	var last uint64
	check := func(step string, l persistence.AddressableLease) {
		t.Helper()
		if l.Epoch <= last {
			t.Fatalf("%s: epoch %d does not exceed the previous %d", step, l.Epoch, last)
		}
		last = l.Epoch
	}
	l, err := e.addrs.Place(e.ctx, ref("e"), node("n1"), ttl)
	if err != nil {
		t.Fatal(err)
	}
	check("first placement", l)
	e.clock.Advance(ttl) // expires
	l, err = e.addrs.Place(e.ctx, ref("e"), node("n2"), ttl)
	if err != nil {
		t.Fatal(err)
	}
	check("re-placement after expiry", l)
	if err := e.addrs.Release(e.ctx, ref("e"), node("n2"), l.Epoch); err != nil {
		t.Fatal(err)
	}
	l, err = e.addrs.Place(e.ctx, ref("e"), node("n1"), ttl) // same instant as the release
	if err != nil {
		t.Fatal(err)
	}
	check("re-placement after release", l)
	if err := e.addrs.Remove(e.ctx, ref("e")); err != nil {
		t.Fatal(err)
	}
	if _, err := e.addrs.CleanupExpired(e.ctx); err != nil { // within the grace: the record stays
		t.Fatal(err)
	}
	l, err = e.addrs.Place(e.ctx, ref("e"), node("n3"), ttl)
	if err != nil {
		t.Fatal(err)
	}
	check("re-placement after remove and cleanup", l)
	e.clock.Advance(ttl + persistence.DefaultEpochGrace)
	if n, err := e.addrs.CleanupExpired(e.ctx); err != nil || n != 1 {
		t.Fatalf("CleanupExpired after the grace = %d, %v; want 1", n, err)
	}
	l, err = e.addrs.Place(e.ctx, ref("e"), node("n1"), ttl)
	if err != nil {
		t.Fatal(err)
	}
	check("placement after the record was deleted", l)
}

func (h Harness) testExpiryAndCleanup(t *testing.T) {
	e := h.newEnv(t)
	for i := 0; i < 10; i++ {
		d := ttl
		if i%2 == 0 {
			d = 3 * ttl
		}
		if _, err := e.addrs.Place(e.ctx, ref(fmt.Sprint("x", i)), node("n1"), d); err != nil {
			t.Fatal(err)
		}
	}
	e.clock.Advance(ttl) // the odd ones expire exactly now
	if _, err := e.addrs.Get(e.ctx, ref("x1")); !errors.Is(err, persistence.ErrNotFound) {
		t.Fatalf("Get of an expired lease = %v, want ErrNotFound", err)
	}
	page, err := e.addrs.List(e.ctx, persistence.PageRequest{})
	if err != nil || len(page.Leases) != 5 {
		t.Fatalf("List after expiry = %d leases, %v; want 5", len(page.Leases), err)
	}
	byNode, err := e.addrs.ListByNode(e.ctx, node("n1"), persistence.PageRequest{})
	if err != nil || len(byNode.Leases) != 5 {
		t.Fatalf("ListByNode after expiry = %d leases, %v; want 5", len(byNode.Leases), err)
	}
	if n, err := e.addrs.CleanupExpired(e.ctx); err != nil || n != 0 {
		t.Fatalf("CleanupExpired within the epoch grace = %d, %v; want 0", n, err)
	}
	e.clock.Advance(persistence.DefaultEpochGrace)
	if n, err := e.addrs.CleanupExpired(e.ctx); err != nil || n != 5 {
		t.Fatalf("CleanupExpired = %d, %v; want 5", n, err)
	}
	if n, err := e.addrs.CleanupExpired(e.ctx); err != nil || n != 0 {
		t.Fatalf("second CleanupExpired = %d, %v; want 0", n, err)
	}
	// Only live leases' records and index entries remain in the store.
	if n := countKeys(t, e.store, "a/"); n != 5 {
		t.Fatalf("%d lease records remain, want 5", n)
	}
	wantIndex := 5
	if h.claims(driver.CapIndex) {
		wantIndex = 0 // the backend indexes natively: no index entries at all
	}
	if n := countKeys(t, e.store, persistence.IndexKeyPrefix); n != wantIndex {
		t.Fatalf("%d index entries remain, want %d", n, wantIndex)
	}
}

func countKeys(t *testing.T, s driver.Store, prefix string) int {
	t.Helper()
	n, after := 0, ""
	for {
		p, err := s.List(bg, prefix, driver.ListOptions{StartAfter: after})
		if err != nil {
			t.Fatal(err)
		}
		n += len(p.Entries)
		if !p.More || len(p.Entries) == 0 {
			return n
		}
		after = p.Entries[len(p.Entries)-1].Key
	}
}

// hookStore runs beforeDelete before forwarding a Delete of a matching key.
type hookStore struct {
	driver.Store
	mu           sync.Mutex
	beforeDelete func(key string)
}

func (s *hookStore) Delete(ctx context.Context, key string, cond driver.Condition) error {
	s.mu.Lock()
	hook := s.beforeDelete
	s.mu.Unlock()
	if hook != nil {
		hook(key)
	}
	return s.Store.Delete(ctx, key, cond)
}

// hookExpiryStore is a hookStore that keeps the inner store's expiry
// listing, so that the cleanup sweeps only what is due.
type hookExpiryStore struct {
	*hookStore
	el driver.ExpiryLister
}

func (s hookExpiryStore) PutWithOptions(ctx context.Context, key string, value []byte, cond driver.Condition, o driver.PutOptions) (driver.Version, error) {
	return s.el.PutWithOptions(ctx, key, value, cond, o)
}
func (s hookExpiryStore) ListExpiring(ctx context.Context, prefix string, before time.Time, limit int) ([]driver.Entry, error) {
	return s.el.ListExpiring(ctx, prefix, before, limit)
}
func (s hookExpiryStore) ExpiryGranularity() time.Duration { return s.el.ExpiryGranularity() }

// testRenewBeatsCleanup races a renewal with the cleanup of a server whose
// clock runs ahead; with due, that cleanup reads through the backend's
// expiry listing instead of every lease.
func (h Harness) testRenewBeatsCleanup(t *testing.T, due bool) {
	e := h.newEnv(t)
	l, err := e.addrs.Place(e.ctx, ref("c"), node("n1"), ttl)
	if err != nil {
		t.Fatal(err)
	}
	// A second server whose clock runs ahead judges the lease dead and past
	// its grace; between its read and its delete, the holder
	// (on the first server's clock) renews. The renewal must win.
	hs := &hookStore{Store: e.store}
	e.clock.Advance(ttl / 2)
	ahead := clock.NewManual(e.epoch0.Add(ttl + persistence.DefaultEpochGrace + time.Second))
	var cleanerStore driver.Store = hs
	if due {
		cleanerStore = hookExpiryStore{hookStore: hs, el: e.store.(driver.ExpiryLister)}
	}
	cleaner := persistence.NewProvider("cleaner", "test", cleanerStore, persistence.WithClock(ahead))
	var renewErr error
	renewed := false
	hs.beforeDelete = func(key string) {
		if !renewed && len(key) > 2 && key[:2] == "a/" {
			renewed = true
			_, renewErr = e.addrs.Renew(e.ctx, ref("c"), node("n1"), l.Epoch, ttl)
		}
	}
	n, err := cleaner.Addressables().CleanupExpired(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !renewed || renewErr != nil {
		t.Fatalf("the renewal inside the cleanup did not run or failed: ran=%v err=%v", renewed, renewErr)
	}
	if n != 0 {
		t.Fatalf("cleanup removed %d leases; the renewed lease must survive", n)
	}
	got, err := e.addrs.Get(e.ctx, ref("c"))
	if err != nil || got.Epoch != l.Epoch {
		t.Fatalf("renewed lease after cleanup = %+v, %v", got, err)
	}
	byNode, err := e.addrs.ListByNode(e.ctx, node("n1"), persistence.PageRequest{})
	if err != nil || len(byNode.Leases) != 1 {
		t.Fatalf("ListByNode after cleanup = %d leases, %v; want 1", len(byNode.Leases), err)
	}
}

func leaseSet(ls []persistence.AddressableLease) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = l.Reference.String()
	}
	sort.Strings(out)
	return out
}

// truth lists, from List (the lease records), the live leases held by n.
func truth(t *testing.T, e *env, n persistence.NodeID) []string {
	t.Helper()
	var out []persistence.AddressableLease
	for l, err := range e.addrs.All(e.ctx, "") {
		if err != nil {
			t.Fatal(err)
		}
		if l.Node == n {
			out = append(out, l)
		}
	}
	return leaseSet(out)
}

func listByNode(t *testing.T, e *env, n persistence.NodeID, limit int) []string {
	t.Helper()
	var all []persistence.AddressableLease
	req := persistence.PageRequest{Limit: limit}
	for {
		p, err := e.addrs.ListByNode(e.ctx, n, req)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, p.Leases...)
		if p.NextPageToken == "" {
			return leaseSet(all)
		}
		req.PageToken = p.NextPageToken
	}
}

func (h Harness) testListByNodeExact(t *testing.T) {
	e := h.newEnv(t)
	a, b := node("A"), node("B")
	leases := map[string]persistence.AddressableLease{}
	for i := 0; i < 60; i++ {
		n := a
		if i%2 == 1 {
			n = b
		}
		d := ttl
		if i%5 == 0 {
			d = ttl / 2 // these expire first
		}
		l, err := e.addrs.Place(e.ctx, ref(fmt.Sprint("k", i)), n, d)
		if err != nil {
			t.Fatal(err)
		}
		leases[fmt.Sprint("k", i)] = l
	}
	verify := func(step string) {
		t.Helper()
		for _, n := range []persistence.NodeID{a, b} {
			want := truth(t, e, n)
			for _, limit := range []int{0, 7} {
				if got := listByNode(t, e, n, limit); fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("%s: ListByNode(%s, limit %d) =\n%v\nwant\n%v", step, n, limit, got, want)
				}
			}
		}
	}
	verify("after placement")
	// Move 10 of A's leases to B (release, then place on B).
	for i := 0; i < 20; i += 2 {
		k := fmt.Sprint("k", i)
		if err := e.addrs.Release(e.ctx, ref(k), a, leases[k].Epoch); err != nil {
			t.Fatal(err)
		}
		l, err := e.addrs.Place(e.ctx, ref(k), b, ttl)
		if err != nil {
			t.Fatal(err)
		}
		leases[k] = l
	}
	verify("after moves")
	for i := 21; i < 31; i += 2 {
		if err := e.addrs.Remove(e.ctx, ref(fmt.Sprint("k", i))); err != nil {
			t.Fatal(err)
		}
	}
	verify("after removals")
	e.clock.Advance(ttl / 2)
	verify("after expiry")
	// Expired leases of A re-placed on B by another server.
	for i := 40; i < 60; i += 10 {
		if _, err := e.addrs.Place(e.ctx, ref(fmt.Sprint("k", i)), b, ttl); err != nil {
			t.Fatal(err)
		}
	}
	verify("after takeover of expired leases")
	e.clock.Advance(persistence.DefaultEpochGrace)
	if _, err := e.addrs.CleanupExpired(e.ctx); err != nil {
		t.Fatal(err)
	}
	verify("after cleanup")
}

func (h Harness) testStoreEpochRule(t *testing.T) {
	e := h.newEnv(t)
	l := persistence.AddressableLease{Reference: ref("s"), Node: node("n1"), CreatedAt: e.epoch0, RenewAt: e.epoch0.Add(ttl / 2), ExpiresAt: e.epoch0.Add(ttl), Epoch: 100}
	if err := e.addrs.Store(e.ctx, l); err != nil {
		t.Fatal(err)
	}
	if got, err := e.addrs.Get(e.ctx, ref("s")); err != nil || !got.Equal(l) {
		t.Fatalf("Get after Store = %+v, %v", got, err)
	}
	if err := e.addrs.Store(e.ctx, l); err != nil {
		t.Fatalf("storing the same lease again (idempotent migration) = %v", err)
	}
	lower := l
	lower.Epoch = 99
	if err := e.addrs.Store(e.ctx, lower); !errors.Is(err, persistence.ErrFenced) {
		t.Fatalf("Store of a lower epoch = %v, want ErrFenced", err)
	}
	other := l
	other.Node = node("n2")
	if err := e.addrs.Store(e.ctx, other); !errors.Is(err, persistence.ErrFenced) {
		t.Fatalf("Store of the same epoch on another node = %v, want ErrFenced", err)
	}
	higher := other
	higher.Epoch = 101
	if err := e.addrs.Store(e.ctx, higher); err != nil {
		t.Fatal(err)
	}
	if got := listByNode(t, e, node("n1"), 0); len(got) != 0 {
		t.Fatalf("old holder still lists %v", got)
	}
	if got := listByNode(t, e, node("n2"), 0); len(got) != 1 {
		t.Fatalf("new holder lists %v", got)
	}
	invalid := l
	invalid.Epoch = 0
	if err := e.addrs.Store(e.ctx, invalid); !errors.Is(err, persistence.ErrInvalidArgument) {
		t.Fatalf("Store with epoch 0 = %v, want ErrInvalidArgument", err)
	}
}

func (h Harness) testBulk(t *testing.T) {
	e := h.newEnv(t)
	var ls []persistence.AddressableLease
	for i := 0; i < 500; i++ {
		ls = append(ls, persistence.AddressableLease{Reference: ref(fmt.Sprint("b", i)), Node: node(fmt.Sprint("n", i%3)),
			CreatedAt: e.epoch0, RenewAt: e.epoch0.Add(ttl / 2), ExpiresAt: e.epoch0.Add(ttl), Epoch: uint64(i + 1)})
	}
	if err := e.addrs.StoreBulk(e.ctx, ls); err != nil {
		t.Fatal(err)
	}
	for _, l := range ls[:50] {
		if got, err := e.addrs.Get(e.ctx, l.Reference); err != nil || !got.Equal(l) {
			t.Fatalf("Get after StoreBulk = %+v, %v", got, err)
		}
	}
	if got := listByNode(t, e, node("n1"), 0); len(got) != 167 {
		t.Fatalf("ListByNode after StoreBulk = %d, want 167", len(got))
	}
	// One fenced item: the others apply and the error names the index.
	batch := []persistence.AddressableLease{ls[0], ls[1], ls[2]}
	batch[1].Epoch = 0 // invalid
	batch[2].Node, batch[2].Epoch = node("other"), ls[2].Epoch-1
	err := e.addrs.StoreBulk(e.ctx, batch)
	var be *persistence.BulkError
	if !errors.As(err, &be) || len(be.Failures) != 2 || be.Failures[1] == nil || !errors.Is(be.Failures[2], persistence.ErrFenced) ||
		!errors.Is(err, persistence.ErrInvalidArgument) {
		t.Fatalf("StoreBulk with bad items = %v, want a BulkError for items 1 and 2", err)
	}
	var refs []persistence.AddressableReference
	for _, l := range ls[:250] {
		refs = append(refs, l.Reference)
	}
	if err := e.addrs.RemoveBulk(e.ctx, refs); err != nil {
		t.Fatal(err)
	}
	page, err := e.addrs.List(e.ctx, persistence.PageRequest{Limit: persistence.MaxPageSize})
	if err != nil || len(page.Leases) != 250 {
		t.Fatalf("List after RemoveBulk = %d, %v; want 250", len(page.Leases), err)
	}
}

func (h Harness) testPaginate(t *testing.T) {
	e := h.newEnv(t)
	n := h.ManyLeases
	var ls []persistence.AddressableLease
	for i := 0; i < n; i++ {
		ls = append(ls, persistence.AddressableLease{Reference: ref(fmt.Sprintf("p%06d", i)), Node: node("n1"),
			CreatedAt: e.epoch0, RenewAt: e.epoch0.Add(ttl / 2), ExpiresAt: e.epoch0.Add(ttl), Epoch: 1})
	}
	if err := e.addrs.StoreBulk(e.ctx, ls); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	var prev string
	req := persistence.PageRequest{Limit: 333}
	pages := 0
	for {
		p, err := e.addrs.List(e.ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if len(p.Leases) > 333 {
			t.Fatalf("page of %d leases exceeds the limit", len(p.Leases))
		}
		for _, l := range p.Leases {
			k := l.Reference.Key.StringValue()
			if seen[k] || k <= prev {
				t.Fatalf("lease %s repeated or out of order after %s", k, prev)
			}
			seen[k], prev = true, k
		}
		if p.NextPageToken == "" {
			break
		}
		req.PageToken = p.NextPageToken
	}
	if len(seen) != n || pages != (n+332)/333 {
		t.Fatalf("listed %d leases in %d pages, want %d in %d", len(seen), pages, n, (n+332)/333)
	}
	if got := listByNode(t, e, node("n1"), 1000); len(got) != n {
		t.Fatalf("ListByNode paginated %d leases, want %d", len(got), n)
	}
}

func (h Harness) testNamespaces(t *testing.T) {
	e := h.newEnv(t)
	r1 := persistence.AddressableReference{Namespace: "ns1", Type: "T", Key: persistence.Int64Key(7)}
	r2 := persistence.AddressableReference{Namespace: "ns2", Type: "T", Key: persistence.Int64Key(7)}
	n1 := persistence.NodeID{Namespace: "ns1", Key: "node"}
	n2 := persistence.NodeID{Namespace: "ns2", Key: "node"}
	if _, err := e.addrs.Place(e.ctx, r1, n1, ttl); err != nil {
		t.Fatal(err)
	}
	if _, err := e.addrs.Place(e.ctx, r2, n2, ttl); err != nil {
		t.Fatalf("the same type and key in another namespace must be independent: %v", err)
	}
	for _, ns := range []string{"ns1", "ns2"} {
		p, err := e.addrs.List(e.ctx, persistence.PageRequest{Namespace: ns})
		if err != nil || len(p.Leases) != 1 || p.Leases[0].Reference.Namespace != ns {
			t.Fatalf("List(namespace %s) = %+v, %v", ns, p.Leases, err)
		}
	}
	if got := listByNode(t, e, n1, 0); len(got) != 1 || got[0] != r1.String() {
		t.Fatalf("ListByNode(ns1/node) = %v", got)
	}
	// A namespace that is a prefix of another sees only its own.
	r3 := persistence.AddressableReference{Namespace: "ns", Type: "T", Key: persistence.Int64Key(7)}
	if _, err := e.addrs.Place(e.ctx, r3, persistence.NodeID{Namespace: "ns", Key: "node"}, ttl); err != nil {
		t.Fatal(err)
	}
	if p, _ := e.addrs.List(e.ctx, persistence.PageRequest{Namespace: "ns"}); len(p.Leases) != 1 {
		t.Fatalf("List(namespace ns) = %d leases, want 1", len(p.Leases))
	}
}

func (h Harness) testCorruptRecord(t *testing.T) {
	e := h.newEnv(t)
	l, err := e.addrs.Place(e.ctx, ref("z"), node("n1"), ttl)
	if err != nil {
		t.Fatal(err)
	}
	// Overwrite the record with garbage through the driver.
	p, err := e.store.List(bg, "a/", driver.ListOptions{})
	if err != nil || len(p.Entries) != 1 {
		t.Fatalf("expected one lease record, got %d, %v", len(p.Entries), err)
	}
	if _, err := e.store.Put(bg, p.Entries[0].Key, []byte{1, 0, 0xff}, driver.Unconditional()); err != nil {
		t.Fatal(err)
	}
	if _, err := e.addrs.Get(e.ctx, ref("z")); !errors.Is(err, persistence.ErrCorrupt) {
		t.Fatalf("Get of a corrupt record = %v, want ErrCorrupt", err)
	}
	if _, err := e.addrs.Renew(e.ctx, ref("z"), node("n1"), l.Epoch, ttl); !errors.Is(err, persistence.ErrCorrupt) {
		t.Fatalf("Renew of a corrupt record = %v, want ErrCorrupt", err)
	}
}
