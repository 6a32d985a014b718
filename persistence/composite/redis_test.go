package composite_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orbit-go/orbit/internal/testbackend/redistest"
	"github.com/orbit-go/orbit/persistence"
	"github.com/orbit-go/orbit/persistence/composite"
	"github.com/orbit-go/orbit/persistence/config"
	"github.com/orbit-go/orbit/persistence/driver"
	"github.com/orbit-go/orbit/persistence/drivertest"
	"github.com/orbit-go/orbit/persistence/memory"
	"github.com/orbit-go/orbit/persistence/redis"
)

// testLog writes log lines to the test's log.
type testLog struct{ t testing.TB }

func (l testLog) Write(b []byte) (int, error) {
	l.t.Log(strings.TrimSuffix(string(b), "\n"))
	return len(b), nil
}

func newTestLogger(t testing.TB) *slog.Logger { return slog.New(slog.NewTextHandler(testLog{t}, nil)) }

// openRedis opens a Redis store on srv under prefix, closed at cleanup.
func openRedis(t testing.TB, srv *redistest.Server, prefix string, timeout int) driver.Store {
	t.Helper()
	c := config.DefaultRedisConfig()
	c.URL, c.RequestTimeout, c.Prefix = srv.URL(), timeout, prefix
	o, err := redis.OptionsFromConfig(&c)
	if err != nil {
		t.Fatal(err)
	}
	s, err := redis.Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	return s
}

// The whole conformance suite (with the 100 × 32 racing placers) on a
// composite of a real redis-server primary and an in-memory backup.
func TestConformanceRedisPrimaryMemoryBackup(t *testing.T) {
	srv := redistest.Start(t)
	var n atomic.Int64
	drivertest.RunConformanceTests(t, drivertest.Harness{
		MakeStore: func(t *testing.T) driver.Store {
			s, err := composite.Open(context.Background(), composite.Options{
				Primary: openRedis(t, srv, fmt.Sprintf("c%d", n.Add(1)), 30), Backup: memory.New(memory.Options{}),
				HealthCheckInterval: -1,
			})
			if err != nil {
				t.Fatal(err)
			}
			s.WaitBackground()
			t.Cleanup(func() { _ = s.Close(context.Background()) })
			return s
		},
		Capabilities: []driver.Capability{driver.CapHealth},
	})
}

// outcome is one placement attempt of the load.
type outcome struct {
	lease    persistence.AddressableLease
	err      error
	started  time.Time
	finished time.Time
}

// The real primary (redis-server) is killed under a steady load of racing
// placements: the composite fails over after failover_threshold failed
// probes, no request that starts after the failover fails, no reference
// ever has two holders; redis-server is restarted (empty: it has no
// persistence) and failback copies every lease granted during the outage
// to it before it becomes active again.
func TestKillRedisPrimaryUnderLoad(t *testing.T) {
	srv := redistest.Start(t)
	const interval, threshold = 100 * time.Millisecond, 3
	backup := memory.New(memory.Options{})
	s, err := composite.Open(context.Background(), composite.Options{
		Primary: openRedis(t, srv, "ha", 2), Backup: backup,
		HealthCheckInterval: interval, FailoverThreshold: threshold, ProbeTimeout: time.Second,
		Logger: newTestLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	p := persistence.NewProvider("ha", "Composite", s)
	addrs := p.Addressables()

	// Load: workers take references in turn; each reference is placed by
	// two nodes racing.
	var (
		next    atomic.Int64
		mu      sync.Mutex
		results []outcome
		stop    = make(chan struct{})
		wg      sync.WaitGroup
	)
	place := func(r persistence.AddressableReference, n persistence.NodeID) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		o := outcome{started: time.Now()}
		o.lease, o.err = addrs.Place(ctx, r, n, time.Hour)
		o.finished = time.Now()
		mu.Lock()
		results = append(results, o)
		mu.Unlock()
	}
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				r := ref(int(next.Add(1)))
				var pair sync.WaitGroup
				for _, n := range []persistence.NodeID{node(fmt.Sprint("a", w)), node(fmt.Sprint("b", w))} {
					pair.Add(1)
					go func() { defer pair.Done(); place(r, n) }()
				}
				pair.Wait()
				time.Sleep(2 * time.Millisecond) // a steady load, not a flood
			}
		}()
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				close(stop)
				wg.Wait()
				t.Fatalf("timed out waiting for %s; status %+v", what, s.Status())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	placed := func(n int64) func() bool { return func() bool { return next.Load() >= n } }

	waitFor("placements before the kill", placed(300))
	killed := time.Now()
	srv.Kill(t)
	waitFor("the failover", func() bool { return s.Active() == composite.Backup })
	st := s.Status()
	t.Logf("failover %s after the kill, after %d failed probes (failover_threshold %d × health_check_interval %s = %s)",
		st.LastFailover.Sub(killed).Round(time.Millisecond), st.LastFailoverProbes, threshold, interval, threshold*interval)
	if st.LastFailoverProbes != threshold {
		t.Errorf("failed over after %d failed probes, want %d", st.LastFailoverProbes, threshold)
	}
	failedOver := st.LastFailover
	outageStart := next.Load()
	waitFor("placements during the outage", placed(outageStart+300))
	srv.Restart(t)
	waitFor("the failback", func() bool { return s.Active() == composite.Primary })
	failedBack := time.Now()
	waitFor("placements after the failback", placed(next.Load()+300))
	close(stop)
	wg.Wait()

	// No request that started after the failover failed; no reference has
	// two holders.
	holder := map[persistence.AddressableReference]persistence.AddressableLease{}
	var beforeErrs, outage int
	for _, o := range results {
		var lc *persistence.LeaseConflictError
		switch {
		case o.err == nil:
			if h, ok := holder[o.lease.Reference]; ok && h.Node != o.lease.Node {
				t.Fatalf("%s is held by %s (epoch %d) and by %s (epoch %d)", o.lease.Reference, h.Node, h.Epoch, o.lease.Node, o.lease.Epoch)
			}
			holder[o.lease.Reference] = o.lease
			if o.started.After(failedOver) && o.finished.Before(failedBack) {
				outage++
			}
		case errors.As(o.err, &lc):
		case o.started.After(failedOver):
			t.Errorf("a placement started %s after the failover failed: %v", o.started.Sub(failedOver), o.err)
		default:
			beforeErrs++
		}
	}
	t.Logf("%d attempts, %d references placed (%d during the outage), %d errors of requests started before the failover",
		len(results), len(holder), outage, beforeErrs)
	if outage == 0 {
		t.Fatal("no placement during the outage")
	}

	// Every lease is on the restarted primary, as the composite serves it.
	raw := persistence.NewProvider("raw", "Redis", openRedis(t, srv, "ha", 5)).Addressables()
	for r, l := range holder {
		got, err := raw.Get(context.Background(), r)
		if err != nil || !got.Equal(l) {
			t.Fatalf("primary after failback: %s: %v %v, want %v", r, got, err, l)
		}
	}
	if h := s.HealthCheck(context.Background()); h.Status == driver.Unhealthy {
		t.Fatalf("health after failback: %v", h)
	}
}
