package server_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	orbitv1 "github.com/orbit-go/orbit/api/orbit/v1"
	"github.com/orbit-go/orbit/clock"
	"github.com/orbit-go/orbit/persistence"
	"github.com/orbit-go/orbit/persistence/config"
	"github.com/orbit-go/orbit/server"
	"github.com/orbit-go/orbit/server/audit"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// switchable passes events to log while on is set, and drops them (at the
// cost of one atomic load) otherwise.
type switchable struct {
	on  atomic.Bool
	log *audit.Log
}

func (s *switchable) Record(ctx context.Context, e audit.Event) {
	if s.on.Load() {
		s.log.Record(ctx, e)
	}
}

// Placement throughput with the audit log off and on, in the same run and
// on the same server: one server on loopback (memory provider, four Greeter
// nodes, a clock that stands still, no sweeps) whose auditor is switched
// off and on chunk by chunk, in alternating order (off-on, on-off, ...), so
// both modes see the same machine load, store size and connection. On, every
// placement is written as a JSON line to a lumberjack file in a temporary
// folder; an on chunk ends only once its events are written (Flush), so the
// writer's cost is inside the measurement. Each chunk is 64 concurrent
// callers placing new addressables over loopback gRPC. Reported: each
// mode's placements per second, their ratio, the median of the ratios of
// the pairs of chunks (robust to a burst of outside load hitting one
// chunk) and the events dropped (a full queue). Run:
//
//	go test -run '^$' -bench BenchmarkAuditOverhead -benchtime 40000x -count 3 ./server/
func BenchmarkAuditOverhead(b *testing.B) {
	log, err := audit.Open(&config.AuditConfig{Sink: "file", Path: filepath.Join(b.TempDir(), "audit.log")})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = log.Close() })
	sw := &switchable{log: log}
	addrs := newBenchServer(b, sw)
	const chunk, callers = 1000, 64
	var next atomic.Int64
	run := func(on bool, n int) time.Duration {
		sw.on.Store(on)
		start := time.Now()
		var left atomic.Int64
		left.Store(int64(n))
		var wg sync.WaitGroup
		for range callers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for left.Add(-1) >= 0 {
					key := fmt.Sprint("k", next.Add(1))
					if _, err := addrs.LocateOrPlace(bg, &orbitv1.LocateOrPlaceRequest{Reference: sref("", "Greeter", key)}); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		if on {
			if err := log.Flush(bg); err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(start)
	}
	run(false, chunk) // warm up
	run(true, chunk)
	b.ResetTimer()
	var tOff, tOn time.Duration
	var pairs []float64 // each pair's on/off rate ratio
	for i, done := 0, 0; done < b.N; i, done = i+1, done+chunk {
		n := min(chunk, b.N-done)
		first := i%2 == 0 // off-on, on-off, ...: neither always goes first
		t1 := run(!first, n)
		t2 := run(first, n)
		if first {
			tOff, tOn = tOff+t1, tOn+t2
			pairs = append(pairs, t1.Seconds()/t2.Seconds())
		} else {
			tOn, tOff = tOn+t1, tOff+t2
			pairs = append(pairs, t2.Seconds()/t1.Seconds())
		}
	}
	b.StopTimer()
	offRate, onRate := float64(b.N)/tOff.Seconds(), float64(b.N)/tOn.Seconds()
	b.ReportMetric(offRate, "off-places/s")
	b.ReportMetric(onRate, "on-places/s")
	b.ReportMetric(onRate/offRate, "on/off")
	slices.Sort(pairs)
	b.ReportMetric(pairs[len(pairs)/2], "median-pair-on/off")
	b.ReportMetric(float64(log.Dropped()), "dropped")
	b.ReportMetric(0, "ns/op")
}

// newBenchServer starts one server on loopback with its own memory
// provider and four Greeter nodes, and returns a client of it.
func newBenchServer(b *testing.B, a audit.Auditor) orbitv1.AddressableServiceClient {
	b.Helper()
	cfg, err := config.NewBuilder().WithMemory("memory", config.DefaultMemoryConfig(), true).Build()
	if err != nil {
		b.Fatal(err)
	}
	// A clock that stands still: the nodes never need to renew.
	clk := clock.NewManual(time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC))
	reg, err := persistence.OpenRegistry(bg, cfg, persistence.WithClock(clk))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = reg.Close(bg) })
	// No sweep or health check during the measurement (a sweep scans the
	// whole store and would stall one chunk and not the next).
	t := server.DefaultTimings()
	t.SweepInterval, t.HealthInterval = time.Hour, time.Hour
	s, err := server.NewBuilder().WithListenAddress("127.0.0.1:0").WithRegistry(reg).WithClock(clk).
		WithLogger(quiet).WithTimings(t).WithAudit(a).Build(bg)
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Start(bg); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Stop(bg) })
	conn, err := grpc.NewClient(s.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = conn.Close() })
	nodes := orbitv1.NewNodeServiceClient(conn)
	for i := 0; i < 4; i++ {
		if _, err := nodes.Join(bg, &orbitv1.JoinRequest{Capabilities: &orbitv1.NodeCapabilities{AddressableTypes: []string{"Greeter"}}}); err != nil {
			b.Fatal(err)
		}
	}
	return orbitv1.NewAddressableServiceClient(conn)
}
