package memory_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orbit-go/orbit/clock"
	"github.com/orbit-go/orbit/persistence"
	"github.com/orbit-go/orbit/persistence/memory"
	"github.com/puzpuzpuz/xsync/v4"
)

// The benchmarks compare the memory provider (validation, key encoding,
// record decoding, expiry check, metrics) with a bare concurrent map doing
// the same work on the same data: xsync.Map keyed by reference, holding the
// lease struct. Run:
//
//	go test -run '^$' -bench . -benchtime 2s ./persistence/memory/

const benchLeases = 100_000

func benchRef(i int) persistence.AddressableReference {
	return persistence.AddressableReference{Namespace: "default", Type: "Greeter", Key: persistence.StringKey(fmt.Sprintf("user-%09d", i))}
}

var benchNode = persistence.NodeID{Namespace: "default", Key: "node-1"}

func newBenchProvider(b *testing.B, n int) (persistence.Provider, *clock.Manual) {
	b.Helper()
	c := clock.NewManual(t0)
	p := persistence.NewProvider("memory", "Memory", memory.New(memory.Options{}), persistence.WithClock(c))
	for i := 0; i < n; i++ {
		if _, err := p.Addressables().Place(context.Background(), benchRef(i), benchNode, time.Hour); err != nil {
			b.Fatal(err)
		}
	}
	return p, c
}

func newBareMap(n int) *xsync.Map[persistence.AddressableReference, persistence.AddressableLease] {
	m := xsync.NewMap[persistence.AddressableReference, persistence.AddressableLease]()
	for i := 0; i < n; i++ {
		r := benchRef(i)
		m.Store(r, persistence.AddressableLease{Reference: r, Node: benchNode, CreatedAt: t0, RenewAt: t0.Add(30 * time.Minute), ExpiresAt: t0.Add(time.Hour), Epoch: uint64(i + 1)})
	}
	return m
}

func refs(n int) []persistence.AddressableReference {
	out := make([]persistence.AddressableReference, n)
	for i := range out {
		out[i] = benchRef(i)
	}
	return out
}

func BenchmarkLookup(b *testing.B) {
	rs := refs(benchLeases)
	// Each side's data is built once (not once per b.N calibration run),
	// the garbage of building it is collected before the clock starts, and
	// only the side being measured has its data in memory: each is measured
	// with the caches to itself, as it would run in a server.
	var p persistence.Provider
	b.Run("impl=orbit-memory", func(b *testing.B) {
		if p == nil {
			p, _ = newBenchProvider(b, benchLeases)
			runtime.GC()
		}
		dir := p.Addressables()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			r := rand.New(rand.NewPCG(rand.Uint64(), 1))
			for pb.Next() {
				if _, err := dir.Get(context.Background(), rs[r.IntN(len(rs))]); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	p = nil
	var m *xsync.Map[persistence.AddressableReference, persistence.AddressableLease]
	b.Run("impl=bare-xsync-map", func(b *testing.B) {
		if m == nil {
			m = newBareMap(benchLeases)
			runtime.GC()
		}
		now := t0
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			r := rand.New(rand.NewPCG(rand.Uint64(), 1))
			for pb.Next() {
				l, ok := m.Load(rs[r.IntN(len(rs))])
				if !ok || !l.Live(now) {
					b.Fatal("missing")
				}
			}
		})
	})
}

func BenchmarkPlace(b *testing.B) {
	b.Run("impl=orbit-memory", func(b *testing.B) {
		p, _ := newBenchProvider(b, 0)
		dir := p.Addressables()
		var next atomic.Int64
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := dir.Place(context.Background(), benchRef(int(next.Add(1))), benchNode, time.Hour); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	b.Run("impl=bare-xsync-map", func(b *testing.B) {
		m := newBareMap(0)
		var next atomic.Int64
		now := t0
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				r := benchRef(int(next.Add(1)))
				m.Compute(r, func(old persistence.AddressableLease, loaded bool) (persistence.AddressableLease, xsync.ComputeOp) {
					if loaded && old.Live(now) {
						return old, xsync.CancelOp
					}
					return persistence.AddressableLease{Reference: r, Node: benchNode, CreatedAt: now, RenewAt: now.Add(30 * time.Minute),
						ExpiresAt: now.Add(time.Hour), Epoch: old.Epoch + 1}, xsync.UpdateOp
				})
			}
		})
	})
}

func BenchmarkRenew(b *testing.B) {
	const n = 10_000
	rs := refs(n)
	b.Run("impl=orbit-memory", func(b *testing.B) {
		p, _ := newBenchProvider(b, n)
		dir := p.Addressables()
		epochs := make([]uint64, n)
		for i, r := range rs {
			l, _ := dir.Get(context.Background(), r)
			epochs[i] = l.Epoch
		}
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			r := rand.New(rand.NewPCG(rand.Uint64(), 1))
			for pb.Next() {
				i := r.IntN(n)
				if _, err := dir.Renew(context.Background(), rs[i], benchNode, epochs[i], time.Hour); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	b.Run("impl=bare-xsync-map", func(b *testing.B) {
		m := newBareMap(n)
		now := t0
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			r := rand.New(rand.NewPCG(rand.Uint64(), 1))
			for pb.Next() {
				i := r.IntN(n)
				m.Compute(rs[i], func(old persistence.AddressableLease, loaded bool) (persistence.AddressableLease, xsync.ComputeOp) {
					if !loaded || old.Node != benchNode || old.Epoch != uint64(i+1) {
						return old, xsync.CancelOp
					}
					old.RenewAt, old.ExpiresAt = now.Add(30*time.Minute), now.Add(time.Hour)
					return old, xsync.UpdateOp
				})
			}
		})
	})
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkHeapPerLease reports the live heap per stored lease at 1M leases
// (key, record, hash index, ordered key index and node index), with keys
// placed in ascending order (the B-trees' worst case: half-full nodes) and
// in random order.
func BenchmarkHeapPerLease(b *testing.B) {
	const n = 1_000_000
	for _, order := range []string{"sequential", "random"} {
		b.Run("order="+order, func(b *testing.B) {
			idx := make([]int, n)
			for i := range idx {
				idx[i] = i
			}
			if order == "random" {
				rand.Shuffle(n, func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
			}
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				before := heapInUse()
				b.StartTimer()
				c := clock.NewManual(t0)
				p := persistence.NewProvider("memory", "Memory", memory.New(memory.Options{}), persistence.WithClock(c))
				for _, j := range idx {
					if _, err := p.Addressables().Place(context.Background(), benchRef(j), benchNode, time.Hour); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				after := heapInUse()
				b.ReportMetric(float64(after-before)/n, "heap-bytes/lease")
				runtime.KeepAlive(p)
				b.StartTimer()
			}
		})
	}
}

// BenchmarkBackup1M and BenchmarkRestore1M time one disk backup and one
// restore of 1M leases (their records carry the node index label) with zstd.
func BenchmarkBackup1M(b *testing.B) {
	p, _ := newBenchProvider(b, 1_000_000)
	s := persistence.StoreOf(p).(*memory.Store)
	path := filepath.Join(b.TempDir(), "backup.orbit")
	bs, err := memory.Open(context.Background(), memory.Options{Backup: &memory.BackupOptions{Path: path, Compression: "Zstd"}})
	if err != nil {
		b.Fatal(err)
	}
	defer bs.Close(context.Background())
	copyStore(b, s, bs)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := bs.Backup(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRestore1M(b *testing.B) {
	p, _ := newBenchProvider(b, 1_000_000)
	s := persistence.StoreOf(p).(*memory.Store)
	path := filepath.Join(b.TempDir(), "backup.orbit")
	bs, err := memory.Open(context.Background(), memory.Options{Backup: &memory.BackupOptions{Path: path, Compression: "Zstd"}})
	if err != nil {
		b.Fatal(err)
	}
	copyStore(b, s, bs)
	if err := bs.Close(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rs, err := memory.Open(context.Background(), memory.Options{Backup: &memory.BackupOptions{Path: path}})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if rs.Len() != 1_000_000 {
			b.Fatalf("restored %d entries", rs.Len())
		}
		_ = rs.Close(context.Background()) // rewrites the same file
		b.StartTimer()
	}
}
