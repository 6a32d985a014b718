package scale_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/rueidis"
	"golang.org/x/sync/errgroup"

	"github.com/orbit-go/orbit/clock"
	"github.com/orbit-go/orbit/internal/testbackend/etcdtest"
	"github.com/orbit-go/orbit/internal/testbackend/redistest"
	"github.com/orbit-go/orbit/persistence"
	"github.com/orbit-go/orbit/persistence/config"
	"github.com/orbit-go/orbit/persistence/driver"
	"github.com/orbit-go/orbit/persistence/etcd"
	"github.com/orbit-go/orbit/persistence/memory"
	"github.com/orbit-go/orbit/persistence/redis"
)

// backend opens a fresh store of one backend, and returns how to measure
// the bytes its data takes and how its raw client reads one driver key
// (the baseline of get/s).
type backend struct {
	name, typ string
	open      func(b *testing.B) (store driver.Store, footprint func() int64, rawGet func(key string) error)
}

var backends = []backend{
	{"memory", "Memory", func(b *testing.B) (driver.Store, func() int64, func(string) error) {
		s := memory.New(memory.Options{})
		b.Cleanup(func() { _ = s.Close(context.Background()) })
		return s, heapInUse, func(key string) error { _, err := s.Get(context.Background(), key); return err }
	}},
	{"etcd", "Etcd", func(b *testing.B) (driver.Store, func() int64, func(string) error) {
		srv := etcdtest.Start(b)
		s, err := etcd.Open(context.Background(), etcd.Options{Endpoints: srv.Endpoints(), Prefix: "scale", RequestTimeout: time.Minute})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = s.Close(context.Background()) })
		raw := srv.Client(b)
		return s, func() int64 {
				st, err := raw.Status(context.Background(), srv.Endpoint(0))
				if err != nil {
					b.Fatal(err)
				}
				return st.DbSizeInUse
			}, func(key string) error {
				resp, err := raw.Get(context.Background(), s.Prefix()+key)
				if err == nil && len(resp.Kvs) != 1 {
					err = fmt.Errorf("raw get of %q: %d keys", s.Prefix()+key, len(resp.Kvs))
				}
				return err
			}
	}},
	{"redis", "Redis", func(b *testing.B) (driver.Store, func() int64, func(string) error) {
		srv := redistest.Start(b)
		c := config.DefaultRedisConfig()
		c.URL, c.RequestTimeout = srv.URL(), 60
		o, err := redis.OptionsFromConfig(&c)
		if err != nil {
			b.Fatal(err)
		}
		s, err := redis.Open(context.Background(), o)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = s.Close(context.Background()) })
		raw, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{srv.Addr}, DisableCache: true, ForceSingleClient: true})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(raw.Close)
		return s, func() int64 { return infoField(b, srv.Do(b, "INFO", "memory"), "used_memory") }, func(key string) error {
			// The record of a key of the single shard (docs/redis.md).
			return raw.Do(context.Background(), raw.B().Get().Key("{orbit.0}:r:"+key).Build()).Error()
		}
	}},
}

func sizes(b *testing.B) []int {
	spec := os.Getenv("ORBIT_SCALE_SIZES")
	if spec == "" {
		spec = "10000,100000,1000000"
	}
	var out []int
	for _, f := range strings.Split(spec, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 100 {
			b.Fatalf("ORBIT_SCALE_SIZES: %q is not a size of at least 100 leases", f)
		}
		out = append(out, n)
	}
	return out
}

// BenchmarkScale: see the package documentation.
func BenchmarkScale(b *testing.B) {
	for _, be := range backends {
		b.Run("backend="+be.name, func(b *testing.B) {
			for _, n := range sizes(b) {
				b.Run(fmt.Sprintf("leases=%d", n), func(b *testing.B) {
					for range b.N {
						runScale(b, be, n)
					}
				})
			}
		})
	}
}

const (
	loaders     = 64               // goroutines loading leases
	workers     = 16               // goroutines measuring throughput
	measureFor  = 2 * time.Second  // per throughput figure
	shortTTL    = 10 * time.Second // the leases that expire
	renewals    = 200
	placeNodes  = 10
	longTTL     = time.Hour
	expiredPart = 100 // 1 in 100 leases expires
)

// driverKey is the driver key of ref(k)'s lease record (see
// docs/architecture.md, storage layout).
func driverKey(k string) string { return "a/default/Greeter/s" + k }

func ref(k string) persistence.AddressableReference {
	return persistence.AddressableReference{Namespace: "default", Type: "Greeter", Key: persistence.StringKey(k)}
}

func nodeOf(i int) persistence.NodeID {
	return persistence.NodeID{Namespace: "default", Key: fmt.Sprint("node-", i%placeNodes)}
}

// place places count leases named prefix<i> with ttl, loaders at a time.
func place(ctx context.Context, b *testing.B, addrs persistence.AddressableDirectory, prefix string, count int, ttl time.Duration) {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(loaders)
	for i := range count {
		g.Go(func() error {
			_, err := addrs.Place(ctx, ref(fmt.Sprintf("%s%09d", prefix, i)), nodeOf(i), ttl)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		b.Fatalf("placing %d leases: %v", count, err)
	}
}

func runScale(b *testing.B, be backend, n int) {
	ctx := context.Background()
	b.StopTimer()
	store, footprint, rawGet := be.open(b)
	c := clock.NewManual(time.Now())
	p := persistence.NewProvider(be.name, be.typ, store, persistence.WithClock(c))
	addrs := p.Addressables()
	expired := n / expiredPart
	before := footprint()
	start := time.Now()
	place(ctx, b, addrs, "live-", n-expired, longTTL)
	// The expiring leases go last, on a clock set to real time, so that
	// no backend deletes them natively before the sweep.
	c.Set(time.Now())
	place(ctx, b, addrs, "dies-", expired, shortTTL)
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "load-leases/s")
	b.ReportMetric(float64(footprint()-before)/float64(n), "bytes/lease")

	b.StartTimer()
	c.Advance(shortTTL + persistence.DefaultEpochGrace + time.Second)
	t0 := time.Now()
	removed, err := addrs.CleanupExpired(ctx)
	sweep := time.Since(t0)
	b.StopTimer()
	if err != nil || removed != expired {
		b.Fatalf("sweep removed %d leases, %v; want %d", removed, err, expired)
	}
	b.ReportMetric(float64(sweep.Microseconds())/1000, "sweep-ms")
	b.ReportMetric(float64(sweep.Microseconds())/float64(expired), "sweep-µs/expired")

	// The same sweep by scanning every lease (the method before the expiry
	// listing), through a provider that sees only the driver's core.
	c.Set(time.Now())
	place(ctx, b, addrs, "dies-again-", expired, shortTTL)
	c.Advance(shortTTL + persistence.DefaultEpochGrace + time.Second)
	scanner := persistence.NewProvider(be.name+"-scan", be.typ, coreOf(store), persistence.WithClock(c))
	t0 = time.Now()
	removed, err = scanner.Addressables().CleanupExpired(ctx)
	scan := time.Since(t0)
	if err != nil || removed != expired {
		b.Fatalf("scanning sweep removed %d leases, %v; want %d", removed, err, expired)
	}
	b.ReportMetric(float64(scan.Microseconds())/1000, "scan-sweep-ms")

	measureRenewal(ctx, b, p, c)
	pick := func(w, i int) string { return fmt.Sprintf("live-%09d", (w*7919+i*104729)%(n-expired)) }
	if err := rawGet(driverKey(pick(0, 0))); err != nil {
		b.Fatalf("the raw baseline does not find a placed lease: %v", err)
	}
	b.ReportMetric(throughput(func(w, i int) error {
		_, err := addrs.Get(ctx, ref(pick(w, i)))
		return err
	}), "get/s")
	b.ReportMetric(throughput(func(w, i int) error { return rawGet(driverKey(pick(w, i))) }), "raw-get/s")
	b.ReportMetric(throughput(func(w, i int) error {
		_, err := addrs.Place(ctx, ref(fmt.Sprintf("new-%02d-%09d", w, i)), nodeOf(i), longTTL)
		return err
	}), "place/s")
}

// measureRenewal renews one node's lease renewals times and reports the
// driver reads and writes of one renewal and its mean time.
func measureRenewal(ctx context.Context, b *testing.B, p persistence.Provider, c *clock.Manual) {
	id := persistence.NodeID{Namespace: "default", Key: "renewer"}
	const token = "scale-benchmark-token"
	ttl := 10 * time.Second
	_, err := p.Nodes().Join(ctx, persistence.NodeInfo{ID: id, URL: "grpc://127.0.0.1:50051", Status: persistence.NodeActive,
		Lease: persistence.NodeLease{ChallengeToken: token, RenewAt: c.Now().Add(ttl / 2), ExpiresAt: c.Now().Add(ttl)}})
	if err != nil {
		b.Fatal(err)
	}
	m0 := p.Metrics()
	t0 := time.Now()
	for range renewals {
		if _, err := p.Nodes().RenewLease(ctx, id, token, ttl); err != nil {
			b.Fatal(err)
		}
	}
	took := time.Since(t0)
	m1 := p.Metrics()
	b.ReportMetric(float64(m1.ReadOperations-m0.ReadOperations)/renewals, "renew-reads/op")
	b.ReportMetric(float64(m1.WriteOperations-m0.WriteOperations)/renewals, "renew-writes/op")
	b.ReportMetric(float64(took.Microseconds())/renewals, "renew-µs")
}

// throughput runs fn from workers goroutines for measureFor and returns
// calls per second; fn gets its worker and call numbers.
func throughput(fn func(w, i int) error) float64 {
	var calls atomic.Int64
	var g errgroup.Group
	deadline := time.Now().Add(measureFor)
	start := time.Now()
	for w := range workers {
		g.Go(func() error {
			for i := 0; time.Now().Before(deadline); i++ {
				if err := fn(w, i); err != nil {
					return err
				}
				calls.Add(1)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		panic(err) // reached only by a failing backend; the benchmark is void
	}
	return float64(calls.Load()) / time.Since(start).Seconds()
}

// core hides every optional capability but transactions (those keep index
// entries consistent with the records): a provider over it sweeps by
// scanning every lease.
type core struct{ driver.Store }

type coreTxn struct {
	core
	driver.Transactional
}

func coreOf(s driver.Store) driver.Store {
	if tx, ok := s.(driver.Transactional); ok {
		return coreTxn{core{s}, tx}
	}
	return core{s}
}

func heapInUse() int64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

// infoField returns the integer field of a Redis INFO reply.
func infoField(b *testing.B, info, field string) int64 {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				b.Fatalf("INFO %s = %q: %v", field, v, err)
			}
			return n
		}
	}
	b.Fatalf("INFO has no %s field", field)
	return 0
}
