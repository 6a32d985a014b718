package redis_test

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/orbit-go/orbit/internal/testbackend/redistest"
	"github.com/orbit-go/orbit/persistence"
)

// BenchmarkRedisBulkStore stores 100,000 leases with one StoreBulk per
// iteration (fresh references each time) and, in the same run on the same
// server, measures `redis-benchmark -P 64 -t set -n 1000000`. It reports
// leases/s, the SET requests/s of redis-benchmark, and their ratio.
func BenchmarkRedisBulkStore(b *testing.B) {
	srv := redistest.Start(b)
	bin := redistest.BenchmarkBin(b)
	p := openProvider(b, redisConfig(srv.URL()))
	ctx := context.Background()
	const n = 100_000
	now := time.Now()
	var total time.Duration
	for it := 0; it < b.N; it++ {
		ls := make([]persistence.AddressableLease, n)
		for i := range ls {
			ls[i] = persistence.AddressableLease{Reference: ref(fmt.Sprintf("bulk-%d-%06d", it, i)), Node: node(fmt.Sprint("n", i%16)),
				CreatedAt: now, RenewAt: now.Add(5 * time.Minute), ExpiresAt: now.Add(10 * time.Minute), Epoch: uint64(i + 1)}
		}
		start := time.Now()
		if err := p.Addressables().StoreBulk(ctx, ls); err != nil {
			b.Fatal(err)
		}
		total += time.Since(start)
	}
	leasesPerSec := float64(n*b.N) / total.Seconds()
	b.ReportMetric(leasesPerSec, "leases/s")

	host, port, _ := splitHostPort(srv.Addr)
	out, err := exec.Command(bin, "-h", host, "-p", port, "-P", "64", "-t", "set", "-n", "1000000", "-q").CombinedOutput()
	if err != nil {
		b.Fatalf("redis-benchmark: %v: %s", err, out)
	}
	m := regexp.MustCompile(`SET: ([0-9.]+) requests per second`).FindSubmatch(out)
	if m == nil {
		b.Fatalf("no SET rate in redis-benchmark output: %s", out)
	}
	setRate, _ := strconv.ParseFloat(string(m[1]), 64)
	b.ReportMetric(setRate, "redis-benchmark-set/s")
	b.ReportMetric(leasesPerSec/setRate, "ratio")
}

func splitHostPort(addr string) (string, string, error) {
	for i := len(addr) - 1; i >= 0; i-- {
		if addr[i] == ':' {
			return addr[:i], addr[i+1:], nil
		}
	}
	return addr, "", fmt.Errorf("no port in %q", addr)
}
