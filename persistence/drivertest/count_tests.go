package drivertest

import (
	"errors"
	"fmt"
	"testing"

	"github.com/orbit-go/orbit/persistence"
	"github.com/orbit-go/orbit/persistence/driver"
)

// RunCountTests checks the count capability (driver.Counter) and the lease
// count built on it (persistence.CountLeases). A driver that does not claim
// driver.CapCount must not implement driver.Counter, and its directory must
// answer ErrUnsupported; a driver that claims it must count exactly what a
// listing returns.
//
// RunConformanceTests does not run these yet: a backend calls it beside
// RunConformanceTests, with the same Harness. It checks the claim both ways
// itself, as long as driver.AllCapabilities (which the suite's own check
// goes through) does not list driver.CapCount.
func RunCountTests(t *testing.T, h Harness) {
	if h.MakeStore == nil {
		t.Fatal("drivertest: Harness.MakeStore is nil")
	}
	_, counts := h.MakeStore(t).(driver.Counter)
	if counts != h.claims(driver.CapCount) {
		t.Fatalf("driver implements driver.Counter = %v, but the harness claims count = %v", counts, h.claims(driver.CapCount))
	}
	if !h.claims(driver.CapCount) {
		t.Run("Unsupported", h.testCountUnsupported)
		return
	}
	t.Run("CountPrefix", h.testCountPrefix)
	t.Run("CountPrefixMatchesList", h.testCountMatchesList)
	t.Run("CountLeases", h.testCountLeases)
}

func (h Harness) testCountUnsupported(t *testing.T) {
	e := h.newEnv(t)
	if _, ok := e.store.(driver.Counter); ok {
		t.Fatal("driver implements driver.Counter but the harness does not claim count")
	}
	if _, err := persistence.CountLeases(e.ctx, e.addrs, "default"); !errors.Is(err, persistence.ErrUnsupported) {
		t.Fatalf("CountLeases without the count capability = %v, want ErrUnsupported", err)
	}
}

// count returns CountPrefix(prefix), failing the test on an error.
func count(t *testing.T, s driver.Store, prefix string) int64 {
	t.Helper()
	n, err := s.(driver.Counter).CountPrefix(bg, prefix)
	if err != nil {
		t.Fatalf("CountPrefix(%q): %v", prefix, err)
	}
	return n
}

// testCountPrefix counts around the edges of prefixes: a key equal to the
// prefix, a sibling prefix sharing its first bytes, keys before and after,
// deletions and overwrites.
func (h Harness) testCountPrefix(t *testing.T) {
	s := h.MakeStore(t)
	if n := count(t, s, ""); n != 0 {
		t.Fatalf("CountPrefix(\"\") of an empty store = %d, want 0", n)
	}
	for _, k := range []string{"a/ns/1", "a/ns/2", "a/ns/3", "a/ns", "a/ns0/1", "a/nr/1", "a/nt/1", "a/n/1", "b/ns/1", "a/ns/é"} {
		mustPut(t, s, k, "v", driver.Unconditional())
	}
	want := map[string]int64{
		"": 10, "a/": 9, "a/ns/": 4, "a/ns": 6, "a/ns0/": 1, "a/nr/": 1, "a/n": 9,
		"b/": 1, "c/": 0, "0": 0, "a/ns/é": 1, "a/nsx/": 0, "a/ns/1": 1,
	}
	for p, w := range want {
		if n := count(t, s, p); n != w {
			t.Errorf("CountPrefix(%q) = %d, want %d", p, n, w)
		}
	}
	mustPut(t, s, "a/ns/1", "v2", driver.Unconditional()) // an overwrite adds nothing
	if err := s.Delete(bg, "a/ns/2", driver.Unconditional()); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(bg, "a/ns/absent", driver.Unconditional()); err != nil {
		t.Fatal(err)
	}
	if n := count(t, s, "a/ns/"); n != 3 {
		t.Fatalf("CountPrefix(a/ns/) after an overwrite and a delete = %d, want 3", n)
	}
	if n := count(t, s, ""); n != 9 {
		t.Fatalf("CountPrefix(\"\") after a delete = %d, want 9", n)
	}
}

// testCountMatchesList writes more keys than a page holds over several
// prefixes and compares each count with a full listing.
func (h Harness) testCountMatchesList(t *testing.T) {
	s := h.MakeStore(t)
	n := min(h.ManyLeases, 2500)
	for i := range n {
		mustPut(t, s, fmt.Sprintf("c/%d/%05d", i%3, i), "v", driver.Unconditional())
	}
	for i := range n / 10 {
		if err := s.Delete(bg, fmt.Sprintf("c/1/%05d", i*3+1), driver.Unconditional()); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{"c/", "c/0/", "c/1/", "c/2/", "c/1/000", "c/3/"} {
		if got, want := count(t, s, p), int64(countKeys(t, s, p)); got != want {
			t.Errorf("CountPrefix(%q) = %d, a listing has %d", p, got, want)
		}
	}
}

// testCountLeases checks persistence.CountLeases: per namespace, lease
// records only (not nodes, not the per-node index), released records
// counted until the sweep removes them.
func (h Harness) testCountLeases(t *testing.T) {
	e := h.newEnv(t)
	countNS := func(ns string) int64 {
		t.Helper()
		n, err := persistence.CountLeases(e.ctx, e.addrs, ns)
		if err != nil {
			t.Fatalf("CountLeases(%q): %v", ns, err)
		}
		return n
	}
	for _, ns := range []string{"default", "other", ""} {
		if n := countNS(ns); n != 0 {
			t.Fatalf("CountLeases(%q) of an empty store = %d, want 0", ns, n)
		}
	}
	if _, err := e.nodes.Join(e.ctx, mkNode("n1", persistence.NodeActive, e.epoch0.Add(ttl))); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if _, err := e.addrs.Place(e.ctx, ref(fmt.Sprint("k", i)), node("n1"), ttl); err != nil {
			t.Fatal(err)
		}
	}
	other := persistence.AddressableReference{Namespace: "other", Type: "Greeter", Key: persistence.Int64Key(7)}
	if _, err := e.addrs.Place(e.ctx, other, persistence.NodeID{Namespace: "other", Key: "n9"}, ttl); err != nil {
		t.Fatal(err)
	}
	// A namespace whose name extends another's is not counted with it.
	longer := persistence.AddressableReference{Namespace: "default2", Type: "Greeter", Key: persistence.StringKey("z")}
	if _, err := e.addrs.Place(e.ctx, longer, node("n1"), ttl); err != nil {
		t.Fatal(err)
	}
	if n := countNS("default"); n != 5 {
		t.Fatalf("CountLeases(default) = %d, want 5", n)
	}
	if n := countNS("other"); n != 1 {
		t.Fatalf("CountLeases(other) = %d, want 1", n)
	}
	if n := countNS(""); n != 7 {
		t.Fatalf("CountLeases(\"\") = %d, want 7", n)
	}
	if _, err := persistence.CountLeases(e.ctx, e.addrs, "bad/ns\x00"); err == nil {
		t.Fatal("CountLeases of an invalid namespace succeeded")
	}
	// Released and expired records are counted until the sweep removes them.
	l, err := e.addrs.Get(e.ctx, ref("k0"))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.addrs.Release(e.ctx, ref("k0"), node("n1"), l.Epoch); err != nil {
		t.Fatal(err)
	}
	if n := countNS("default"); n != 5 {
		t.Fatalf("CountLeases(default) after a release, before the sweep = %d, want 5 (records)", n)
	}
	e.clock.Advance(ttl + persistence.DefaultEpochGrace + 1)
	swept, err := e.addrs.CleanupExpired(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if swept != 7 {
		t.Fatalf("CleanupExpired = %d, want 7", swept)
	}
	for _, ns := range []string{"default", "other", ""} {
		if n := countNS(ns); n != 0 {
			t.Fatalf("CountLeases(%q) after the sweep = %d, want 0", ns, n)
		}
	}
}
