package flash_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"

	"github.com/orbit-go/orbit/clock"
	"github.com/orbit-go/orbit/persistence"
	"github.com/orbit-go/orbit/persistence/driver"
	"github.com/orbit-go/orbit/persistence/flash"
	"github.com/orbit-go/orbit/persistence/memory"
)

// The benchmarks compare, in the same run and on the same disk:
//
//	impl=flash-1path      Orbit's Flash provider, one path, synced writes
//	impl=flash-3paths     three paths (majority quorum), synced writes
//	impl=flash-1path-nosync  one path, sync = false
//	impl=pebble-1db       the bare engine doing the same work with no
//	                      provider: Get; or Get, then one batch (record +
//	                      index key) applied with pebble.Sync; no locks, no
//	                      versions, no encoding beyond a fixed 40-byte value
//	impl=pebble-3dbs      the same batch applied to three databases in
//	                      parallel (what multipathing costs at the engine)
//	impl=pebble-1db-nosync
//	impl=memory           Orbit's memory provider (no disk)
//
// Every sub-benchmark runs RunParallel with parallelism 8 (16 goroutines on
// 2 cores): synced writes need concurrency for Pebble's group commit.
//
//	go test -run '^$' -bench . -benchtime 2s ./persistence/flash/

const (
	benchLeases = 100_000
	benchRenew  = 10_000
)

var benchNode = persistence.NodeID{Namespace: "default", Key: "node-1"}

func benchRef(i int) persistence.AddressableReference {
	return persistence.AddressableReference{Namespace: "default", Type: "Greeter", Key: persistence.StringKey(fmt.Sprintf("user-%09d", i))}
}

func bareKey(i int) []byte { return fmt.Appendf(nil, "da/default/Greeter/suser-%09d", i) }

func bareIndexKey(i int) []byte {
	return fmt.Appendf(nil, "i\x06node-1da/default/Greeter/suser-%09d", i)
}

var bareValue = make([]byte, 40)

type flashImpl struct {
	name  string
	paths int
	sync  bool
}

var flashImpls = []flashImpl{{"flash-1path", 1, true}, {"flash-3paths", 3, true}, {"flash-1path-nosync", 1, false}}

// newFlashProvider returns a provider over a new store holding n leases
// (written with StoreBulk, i.e. ApplyMany batches).
func newFlashProvider(b *testing.B, im flashImpl, n int) persistence.Provider {
	b.Helper()
	s, err := flash.Open(context.Background(), flash.Options{Paths: dirs(b, im.paths), Sync: im.sync, Compression: "Lz4", CacheSize: 64 << 20})
	if err != nil {
		b.Fatal(err)
	}
	p := persistence.NewProvider("flash", "Flash", s, persistence.WithClock(clock.NewManual(time.Now())))
	b.Cleanup(func() { _ = p.Close(context.Background()) })
	preload(b, p, n)
	return p
}

func preload(b *testing.B, p persistence.Provider, n int) {
	now := time.Now()
	for lo := 0; lo < n; lo += 5000 {
		batch := make([]persistence.AddressableLease, 0, 5000)
		for i := lo; i < min(n, lo+5000); i++ {
			batch = append(batch, persistence.AddressableLease{Reference: benchRef(i), Node: benchNode, CreatedAt: now,
				RenewAt: now.Add(30 * time.Minute), ExpiresAt: now.Add(time.Hour), Epoch: uint64(i + 1)})
		}
		if err := p.Addressables().StoreBulk(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
	}
}

func newMemoryProvider(b *testing.B, n int) persistence.Provider {
	p := persistence.NewProvider("memory", "Memory", memory.New(memory.Options{}), persistence.WithClock(clock.NewManual(time.Now())))
	preload(b, p, n)
	return p
}

// bare is n Pebble databases with the provider's engine options.
type bare struct {
	dbs []*pebble.DB
	wo  *pebble.WriteOptions
	mu  [1024]sync.Mutex // the bare renew still needs a compare-and-set
}

func newBare(b *testing.B, n int, synced bool, keys int) *bare {
	b.Helper()
	cache := pebble.NewCache(64 << 20)
	defer cache.Unref()
	br := &bare{wo: pebble.NoSync}
	if synced {
		br.wo = pebble.Sync
	}
	for _, dir := range dirs(b, n) {
		o := &pebble.Options{Cache: cache, FormatMajorVersion: pebble.FormatNewest, Logger: quietLogger{}}
		for i := range o.Levels {
			o.Levels[i].BlockSize = 4096
			o.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
		}
		db, err := pebble.Open(filepath.Clean(dir), o)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = db.Close() })
		br.dbs = append(br.dbs, db)
		batch := db.NewBatch()
		for i := 0; i < keys; i++ {
			_ = batch.Set(bareKey(i), bareValue, nil)
			_ = batch.Set(bareIndexKey(i), nil, nil)
			if batch.Len() > 1<<20 {
				if err := db.Apply(batch, pebble.NoSync); err != nil {
					b.Fatal(err)
				}
				batch = db.NewBatch()
			}
		}
		if err := db.Apply(batch, pebble.Sync); err != nil {
			b.Fatal(err)
		}
	}
	return br
}

type quietLogger struct{}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(f string, a ...any) {
	panic(fmt.Sprintf(f, a...))
}

func (br *bare) get(key []byte) ([]byte, bool) {
	v, closer, err := br.dbs[0].Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false
	}
	if err != nil {
		panic(err)
	}
	out := append([]byte(nil), v...)
	_ = closer.Close()
	return out, true
}

// write applies the same batch content to every database, in parallel.
func (br *bare) write(kv ...[]byte) {
	apply := func(db *pebble.DB) {
		batch := db.NewBatch()
		for i := 0; i < len(kv); i += 2 {
			_ = batch.Set(kv[i], kv[i+1], nil)
		}
		if err := db.Apply(batch, br.wo); err != nil {
			panic(err)
		}
		_ = batch.Close()
	}
	if len(br.dbs) == 1 {
		apply(br.dbs[0])
		return
	}
	var wg sync.WaitGroup
	for _, db := range br.dbs {
		wg.Add(1)
		go func() { defer wg.Done(); apply(db) }()
	}
	wg.Wait()
}

func parallel(b *testing.B, fn func(r *rand.Rand)) {
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		r := rand.New(rand.NewPCG(rand.Uint64(), 1))
		for pb.Next() {
			fn(r)
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

func BenchmarkGet(b *testing.B) {
	for _, im := range flashImpls[:2] {
		b.Run("impl="+im.name, func(b *testing.B) {
			dir := newFlashProvider(b, im, benchLeases).Addressables()
			parallel(b, func(r *rand.Rand) {
				if _, err := dir.Get(context.Background(), benchRef(r.IntN(benchLeases))); err != nil {
					b.Fatal(err)
				}
			})
		})
	}
	b.Run("impl=pebble-1db", func(b *testing.B) {
		br := newBare(b, 1, true, benchLeases)
		parallel(b, func(r *rand.Rand) {
			if _, ok := br.get(bareKey(r.IntN(benchLeases))); !ok {
				b.Fatal("missing")
			}
		})
	})
	b.Run("impl=memory", func(b *testing.B) {
		dir := newMemoryProvider(b, benchLeases).Addressables()
		parallel(b, func(r *rand.Rand) {
			if _, err := dir.Get(context.Background(), benchRef(r.IntN(benchLeases))); err != nil {
				b.Fatal(err)
			}
		})
	})
}

func BenchmarkPlace(b *testing.B) {
	for _, im := range flashImpls {
		b.Run("impl="+im.name, func(b *testing.B) {
			dir := newFlashProvider(b, im, 0).Addressables()
			var next atomic.Int64
			parallel(b, func(*rand.Rand) {
				if _, err := dir.Place(context.Background(), benchRef(int(next.Add(1))), benchNode, time.Hour); err != nil {
					b.Fatal(err)
				}
			})
		})
	}
	for _, c := range []struct {
		name   string
		n      int
		synced bool
	}{{"pebble-1db", 1, true}, {"pebble-3dbs", 3, true}, {"pebble-1db-nosync", 1, false}} {
		b.Run("impl="+c.name, func(b *testing.B) {
			br := newBare(b, c.n, c.synced, 0)
			var next atomic.Int64
			parallel(b, func(*rand.Rand) {
				i := int(next.Add(1))
				k := bareKey(i)
				if _, ok := br.get(k); ok {
					b.Fatal("exists")
				}
				br.write(k, bareValue, bareIndexKey(i), []byte{})
			})
		})
	}
	b.Run("impl=memory", func(b *testing.B) {
		dir := newMemoryProvider(b, 0).Addressables()
		var next atomic.Int64
		parallel(b, func(*rand.Rand) {
			if _, err := dir.Place(context.Background(), benchRef(int(next.Add(1))), benchNode, time.Hour); err != nil {
				b.Fatal(err)
			}
		})
	})
}

func BenchmarkRenew(b *testing.B) {
	renew := func(b *testing.B, p persistence.Provider) {
		dir := p.Addressables()
		epochs := make([]uint64, benchRenew)
		for i := range epochs {
			l, err := dir.Get(context.Background(), benchRef(i))
			if err != nil {
				b.Fatal(err)
			}
			epochs[i] = l.Epoch
		}
		parallel(b, func(r *rand.Rand) {
			i := r.IntN(benchRenew)
			if _, err := dir.Renew(context.Background(), benchRef(i), benchNode, epochs[i], time.Hour); err != nil {
				b.Fatal(err)
			}
		})
	}
	for _, im := range flashImpls {
		b.Run("impl="+im.name, func(b *testing.B) { renew(b, newFlashProvider(b, im, benchRenew)) })
	}
	for _, c := range []struct {
		name   string
		n      int
		synced bool
	}{{"pebble-1db", 1, true}, {"pebble-3dbs", 3, true}, {"pebble-1db-nosync", 1, false}} {
		b.Run("impl="+c.name, func(b *testing.B) {
			br := newBare(b, c.n, c.synced, benchRenew)
			parallel(b, func(r *rand.Rand) {
				i := r.IntN(benchRenew)
				k := bareKey(i)
				mu := &br.mu[i%len(br.mu)]
				mu.Lock() // compare-and-set: the value must not change between Get and Set
				v, ok := br.get(k)
				if !ok {
					b.Fatal("missing")
				}
				nv := binary.BigEndian.AppendUint64(v[:32:32], uint64(time.Now().UnixNano()))
				br.write(k, nv)
				mu.Unlock()
			})
		})
	}
	b.Run("impl=memory", func(b *testing.B) { renew(b, newMemoryProvider(b, benchRenew)) })
}

// BenchmarkPlaceIndex measures the index capability: the same placements
// through a store that hides driver.Indexer (the lease logic then writes
// a separate node-index entry in each transaction).
func BenchmarkPlaceIndex(b *testing.B) {
	for _, hide := range []bool{false, true} {
		name := "index=native"
		if hide {
			name = "index=entries-in-txn"
		}
		b.Run(name, func(b *testing.B) {
			s, err := flash.Open(context.Background(), flash.Options{Paths: dirs(b, 1), Sync: true, Compression: "Lz4"})
			if err != nil {
				b.Fatal(err)
			}
			var st driver.Store = s
			if hide {
				st = struct {
					driver.Store
					driver.Transactional
				}{s, s}
			}
			p := persistence.NewProvider("flash", "Flash", st)
			b.Cleanup(func() { _ = p.Close(context.Background()) })
			dir := p.Addressables()
			var next atomic.Int64
			parallel(b, func(*rand.Rand) {
				if _, err := dir.Place(context.Background(), benchRef(int(next.Add(1))), benchNode, time.Hour); err != nil {
					b.Fatal(err)
				}
			})
		})
	}
}

// BenchmarkStoreBulk measures the batch capability: StoreBulk of 1,000
// leases through ApplyMany (one engine batch, one log sync, per 256
// operations) and through a store that hides driver.Batcher (one synced
// commit per lease, 16 at a time).
func BenchmarkStoreBulk(b *testing.B) {
	for _, hide := range []bool{false, true} {
		name := "batch=native"
		if hide {
			name = "batch=one-commit-per-lease"
		}
		b.Run(name, func(b *testing.B) {
			s, err := flash.Open(context.Background(), flash.Options{Paths: dirs(b, 1), Sync: true, Compression: "Lz4"})
			if err != nil {
				b.Fatal(err)
			}
			var st driver.Store = s
			if hide {
				st = struct {
					driver.Store
					driver.Transactional
					driver.Indexer
				}{s, s, s}
			}
			p := persistence.NewProvider("flash", "Flash", st)
			b.Cleanup(func() { _ = p.Close(context.Background()) })
			now := time.Now()
			b.ResetTimer()
			for n := 0; n < b.N; n++ {
				batch := make([]persistence.AddressableLease, 1000)
				for i := range batch {
					batch[i] = persistence.AddressableLease{Reference: benchRef(n*1000 + i), Node: benchNode, CreatedAt: now,
						RenewAt: now.Add(30 * time.Minute), ExpiresAt: now.Add(time.Hour), Epoch: 1}
				}
				if err := p.Addressables().StoreBulk(context.Background(), batch); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "leases/s")
		})
	}
}

// inProcess is the store with the driver.InProcess marker: the lease logic
// then reads before every conditional write instead of using its version
// cache.
type inProcess struct{ *flash.Store }

func (inProcess) InProcess() {}

// BenchmarkRenewInProcess measures whether the store should claim
// driver.InProcess (it does not).
func BenchmarkRenewInProcess(b *testing.B) {
	for _, marked := range []bool{false, true} {
		name := "inprocess=no"
		if marked {
			name = "inprocess=yes"
		}
		b.Run(name, func(b *testing.B) {
			s, err := flash.Open(context.Background(), flash.Options{Paths: dirs(b, 1), Sync: true, Compression: "Lz4"})
			if err != nil {
				b.Fatal(err)
			}
			var st driver.Store = s
			if marked {
				st = inProcess{s}
			}
			p := persistence.NewProvider("flash", "Flash", st, persistence.WithClock(clock.NewManual(time.Now())))
			b.Cleanup(func() { _ = p.Close(context.Background()) })
			preload(b, p, benchRenew)
			dir := p.Addressables()
			epochs := make([]uint64, benchRenew)
			for i := range epochs {
				l, err := dir.Get(context.Background(), benchRef(i))
				if err != nil {
					b.Fatal(err)
				}
				epochs[i] = l.Epoch
			}
			parallel(b, func(r *rand.Rand) {
				i := r.IntN(benchRenew)
				if _, err := dir.Renew(context.Background(), benchRef(i), benchNode, epochs[i], time.Hour); err != nil {
					b.Fatal(err)
				}
			})
		})
	}
}
