package persistence_test

import (
	"context"
	"testing"
	"time"

	"github.com/orbit-go/orbit/clock"
	"github.com/orbit-go/orbit/persistence"
	"github.com/orbit-go/orbit/persistence/driver"
	"github.com/orbit-go/orbit/persistence/flash"
	"github.com/orbit-go/orbit/persistence/memory"
)

// remoteLike is the memory driver with only the core contract: not
// in-process, so the provider keeps its version caches as for a network
// backend.
type remoteLike struct{ driver.Store }

func cacheStats(p persistence.Provider) map[string][2]uint64 {
	out := map[string][2]uint64{}
	for _, s := range persistence.CacheStatsOf(p) {
		out[s.Cache] = [2]uint64{s.Hits, s.Misses}
	}
	return out
}

// The version caches count a hit when a renewal finds the record it wrote
// and a miss when it does not (another provider wrote it); they start at 0.
func TestCacheStatsOfVersionCaches(t *testing.T) {
	ctx := context.Background()
	mem := memory.New(memory.Options{})
	t.Cleanup(func() { _ = mem.Close(ctx) })
	c := clock.NewManual(time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))
	p := persistence.NewProvider("p", "Test", remoteLike{mem}, persistence.WithClock(c))
	q := persistence.NewProvider("q", "Test", remoteLike{mem}, persistence.WithClock(c))
	got := cacheStats(p)
	for _, name := range []string{persistence.CacheLeaseVersion, persistence.CacheNodeVersion, persistence.CacheLeaseLabel} {
		if s, ok := got[name]; !ok || s != [2]uint64{} {
			t.Fatalf("cache %s of a new provider = %v (present %v), want 0 hits and 0 misses", name, s, ok)
		}
	}
	if _, ok := got[persistence.CacheDriver]; ok {
		t.Fatal("a driver without cache-stats reports a driver cache")
	}
	ref := persistence.AddressableReference{Namespace: "default", Type: "Greeter", Key: persistence.StringKey("a")}
	node := persistence.NodeID{Namespace: "default", Key: "n1"}
	l, err := p.Addressables().Place(ctx, ref, node, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	before := cacheStats(p)[persistence.CacheLeaseVersion]
	if _, err := p.Addressables().Renew(ctx, ref, node, l.Epoch, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	after := cacheStats(p)[persistence.CacheLeaseVersion]
	if after[0] != before[0]+1 || after[1] != before[1] {
		t.Fatalf("renewal by the provider that placed: lease-version %v -> %v, want one more hit", before, after)
	}
	qBefore := cacheStats(q)[persistence.CacheLeaseVersion]
	if _, err := q.Addressables().Renew(ctx, ref, node, l.Epoch, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	qAfter := cacheStats(q)[persistence.CacheLeaseVersion]
	if qAfter[1] != qBefore[1]+1 {
		t.Fatalf("renewal by a provider that never saw the lease: lease-version %v -> %v, want one more miss", qBefore, qAfter)
	}
	n, err := p.Nodes().Join(ctx, persistence.NodeInfo{ID: node, URL: "grpc://127.0.0.1:1", Status: persistence.NodeActive,
		Lease: persistence.NodeLease{ExpiresAt: c.Now().Add(time.Minute), ChallengeToken: "tok"}})
	if err != nil {
		t.Fatal(err)
	}
	nb := cacheStats(p)[persistence.CacheNodeVersion]
	if _, err := p.Nodes().RenewLease(ctx, n.ID, "tok", time.Minute); err != nil {
		t.Fatal(err)
	}
	if na := cacheStats(p)[persistence.CacheNodeVersion]; na[0] != nb[0]+1 {
		t.Fatalf("node renewal by the provider that joined: node-version %v -> %v, want one more hit", nb, na)
	}
	// Another kind of provider is not ours: nothing to report.
	if s := persistence.CacheStatsOf(nil); s != nil {
		t.Fatalf("CacheStatsOf(nil) = %v", s)
	}
}

// A driver with its own cache (Flash's block cache, driver.CacheStatser)
// is reported as the driver cache, with the driver's figures.
func TestCacheStatsOfDriverCache(t *testing.T) {
	ctx := context.Background()
	fs, err := flash.Open(ctx, flash.Options{Paths: []string{t.TempDir()}})
	if err != nil {
		t.Fatal(err)
	}
	p := persistence.NewProvider("f", "Flash", fs)
	t.Cleanup(func() { _ = p.Close(ctx) })
	ref := persistence.AddressableReference{Namespace: "default", Type: "Greeter", Key: persistence.StringKey("a")}
	if _, err := p.Addressables().Place(ctx, ref, persistence.NodeID{Namespace: "default", Key: "n"}, time.Minute); err != nil {
		t.Fatal(err)
	}
	got, ok := cacheStats(p)[persistence.CacheDriver]
	if !ok {
		t.Fatalf("the flash provider reports no driver cache: %v", cacheStats(p))
	}
	h, m := fs.CacheStats()
	if got[0] > h || got[1] > m {
		t.Fatalf("driver cache = %v, the driver reports %d hits, %d misses (read after: it cannot be less)", got, h, m)
	}
}
