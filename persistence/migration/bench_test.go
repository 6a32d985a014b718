package migration_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orbit-go/orbit/internal/testbackend/etcdtest"
	"github.com/orbit-go/orbit/internal/testbackend/redistest"
	"github.com/orbit-go/orbit/persistence"
	"github.com/orbit-go/orbit/persistence/migration"
	"github.com/redis/rueidis"
)

const benchLeases = 100_000

// BenchmarkMigrate100k migrates 100,000 leases (and 100 nodes) from a
// memory provider to Redis and to etcd, each iteration into a fresh prefix,
// without validation; in the same run it measures the raw client of the
// target writing as many keys (Redis: rueidis SETs pipelined 1,000 at a
// time, as the migration's batches; etcd: clientv3 Puts from 16 goroutines,
// StoreBulk's concurrency). Metrics: leases/s and raw-writes/s.
func BenchmarkMigrate100k(b *testing.B) {
	clk := newClock()
	src := openMemory(b, "memory", clk)
	populate(b, src, clk, dataset{ns: "default", leases: benchLeases, nodes: 100})
	value := make([]byte, 48) // about a lease record's size
	keys := make([]string, benchLeases)
	for i := range keys {
		keys[i] = fmt.Sprintf("a/default/user/s:u-%07d", i)
	}

	b.Run("to=redis", func(b *testing.B) {
		srv := redistest.Start(b)
		b.Run("orbit-migrate", func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				dst := openRedis(b, srv, fmt.Sprint("bench-", i), clk)
				benchRun(b, src, dst)
			}
		})
		b.Run("raw-rueidis-set", func(b *testing.B) {
			c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{srv.Addr}, DisableCache: true})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			ctx := context.Background()
			start := time.Now()
			for it := 0; it < b.N; it++ {
				for lo := 0; lo < benchLeases; lo += migration.DefaultBatchSize {
					cmds := make(rueidis.Commands, 0, migration.DefaultBatchSize)
					for _, k := range keys[lo:min(lo+migration.DefaultBatchSize, benchLeases)] {
						cmds = append(cmds, c.B().Set().Key(fmt.Sprint("raw-", it, "/", k)).Value(rueidis.BinaryString(value)).Build())
					}
					for _, r := range c.DoMulti(ctx, cmds...) {
						if r.Error() != nil {
							b.Fatal(r.Error())
						}
					}
				}
			}
			b.ReportMetric(float64(benchLeases*b.N)/time.Since(start).Seconds(), "raw-writes/s")
		})
	})

	b.Run("to=etcd", func(b *testing.B) {
		srv := etcdtest.Start(b)
		b.Run("orbit-migrate", func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				dst := openEtcd(b, srv, fmt.Sprint("bench-", i), clk)
				benchRun(b, src, dst)
			}
		})
		b.Run("raw-clientv3-put", func(b *testing.B) {
			c := srv.Client(b)
			ctx := context.Background()
			start := time.Now()
			for it := 0; it < b.N; it++ {
				var next atomic.Int64
				var wg sync.WaitGroup
				var failed atomic.Value
				for w := 0; w < persistence.DefaultBulkConcurrency; w++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for {
							j := int(next.Add(1) - 1)
							if j >= benchLeases {
								return
							}
							if _, err := c.Put(ctx, fmt.Sprint("raw-", it, "/", keys[j]), string(value)); err != nil {
								failed.Store(err)
								return
							}
						}
					}()
				}
				wg.Wait()
				if err, _ := failed.Load().(error); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(benchLeases*b.N)/time.Since(start).Seconds(), "raw-writes/s")
		})
	})
}

func benchRun(b *testing.B, src, dst persistence.Provider) {
	b.Helper()
	start := time.Now()
	res, err := migration.Run(context.Background(), src, dst, migration.Options{})
	if err != nil || !res.OK() || res.LeasesMigrated != benchLeases {
		b.Fatalf("migrate: %v, %+v", err, res)
	}
	b.ReportMetric(float64(benchLeases)/time.Since(start).Seconds(), "leases/s")
}
