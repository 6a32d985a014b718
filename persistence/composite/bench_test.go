package composite_test

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/orbit-go/orbit/internal/testbackend/redistest"
	"github.com/orbit-go/orbit/persistence"
	"github.com/orbit-go/orbit/persistence/composite"
	"github.com/orbit-go/orbit/persistence/driver"
	"github.com/orbit-go/orbit/persistence/memory"
)

// BenchmarkComposite measures what the Composite provider costs over its
// primary: the same lease operations through the persistence API on
//
//	impl=redis           the Redis provider alone;
//	impl=composite-sync  a composite of that Redis primary and an in-memory
//	                     backup, every write mirrored before it returns;
//	impl=composite-async the same composite, mirrored every sync_interval;
//	impl=raw-rueidis     the raw client doing the fewest requests for the
//	                     operation (GET; SET NX; SET XX), same server, same run.
//
// Each sub-benchmark runs RunParallel (16 goroutines on 2 cores).
func BenchmarkComposite(b *testing.B) {
	srv := redistest.Start(b)
	ctx := context.Background()
	const ttl = 10 * time.Minute
	open := func(prefix string, mode composite.Mirror, wrap bool) persistence.AddressableDirectory {
		st := openRedis(b, srv, prefix, 30)
		if wrap {
			s, err := composite.Open(ctx, composite.Options{Primary: st, Backup: memory.New(memory.Options{}), Mirror: mode,
				HealthCheckInterval: -1, SyncInterval: time.Hour})
			if err != nil {
				b.Fatal(err)
			}
			s.WaitBackground()
			b.Cleanup(func() { _ = s.Close(ctx) })
			st = s
		}
		return persistence.NewProvider(prefix, "bench", st).Addressables()
	}
	impls := []struct {
		name  string
		addrs persistence.AddressableDirectory
	}{
		{"redis", open("r", 0, false)},
		{"composite-sync", open("cs", composite.Sync, true)},
		{"composite-async", open("ca", composite.Async, true)},
	}
	raw, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{srv.Addr}, DisableCache: true, ForceSingleClient: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(raw.Close)
	value := string(make([]byte, 64))
	const keys = 1024
	held := map[string][]persistence.AddressableLease{}
	for _, im := range impls {
		for i := 0; i < keys; i++ {
			l, err := im.addrs.Place(ctx, ref(i), node("n"), ttl)
			if err != nil {
				b.Fatal(err)
			}
			held[im.name] = append(held[im.name], l)
		}
	}
	for i := 0; i < keys; i++ {
		if err := raw.Do(ctx, raw.B().Set().Key("raw:"+strconv.Itoa(i)).Value(value).Build()).Error(); err != nil {
			b.Fatal(err)
		}
	}
	var seq atomic.Int64
	parallel := func(b *testing.B, f func(i int64) error) {
		b.SetParallelism(8)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := f(seq.Add(1)); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
	}
	b.Run("op=get", func(b *testing.B) {
		for _, im := range impls {
			b.Run("impl="+im.name, func(b *testing.B) {
				parallel(b, func(i int64) error { _, err := im.addrs.Get(ctx, ref(int(i%keys))); return err })
			})
		}
		b.Run("impl=raw-rueidis", func(b *testing.B) {
			parallel(b, func(i int64) error {
				return raw.Do(ctx, raw.B().Get().Key("raw:"+strconv.Itoa(int(i%keys))).Build()).Error()
			})
		})
	})
	b.Run("op=place", func(b *testing.B) {
		for _, im := range impls {
			b.Run("impl="+im.name, func(b *testing.B) {
				parallel(b, func(i int64) error {
					_, err := im.addrs.Place(ctx, ref(int(keys+i)), node("n"), ttl)
					return err
				})
			})
		}
		b.Run("impl=raw-rueidis", func(b *testing.B) {
			parallel(b, func(i int64) error {
				return raw.Do(ctx, raw.B().Set().Key(fmt.Sprint("rawp:", i)).Value(value).Nx().Build()).Error()
			})
		})
	})
	b.Run("op=renew", func(b *testing.B) {
		for _, im := range impls {
			b.Run("impl="+im.name, func(b *testing.B) {
				parallel(b, func(i int64) error {
					l := held[im.name][i%keys]
					_, err := im.addrs.Renew(ctx, l.Reference, l.Node, l.Epoch, ttl)
					return err
				})
			})
		}
		b.Run("impl=raw-rueidis", func(b *testing.B) {
			parallel(b, func(i int64) error {
				return raw.Do(ctx, raw.B().Set().Key("raw:"+strconv.Itoa(int(i%keys))).Value(value).Xx().Build()).Error()
			})
		})
	})
}

var _ driver.Store = (*composite.Store)(nil)
