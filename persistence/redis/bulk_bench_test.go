package redis_test

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
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

// BenchmarkRedisBulkCeiling measures, with redis-benchmark alone (no Orbit,
// no Go client) on one server, what the bulk target is compared with: `-P 64
// -t set` rewrites a single key with a 3-byte value. Next to it are the
// least a lease needs written, pipelined 64 deep the same way: distinct keys;
// a lease-sized value on distinct keys; the same with the expiry time the
// lease needs (PXAT); and the least atomic step with a node index (a script
// creating the record and adding it to a SET or ZSET index). Each variant
// starts on an empty server. It reports requests/s of each and its ratio to
// `-t set`; the bulk target asks Orbit for 0.5.
func BenchmarkRedisBulkCeiling(b *testing.B) {
	srv := redistest.Start(b)
	bin, cliBin := redistest.BenchmarkBin(b), redistest.CLIBin(b)
	host, port, _ := splitHostPort(srv.Addr)
	cli := func(args ...string) string {
		out, err := exec.Command(cliBin, append([]string{"-h", host, "-p", port}, args...)...).CombinedOutput()
		if err != nil {
			b.Fatalf("redis-cli %v: %v: %s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	rate := func(n string, args ...string) float64 {
		cli("FLUSHALL")
		cmd := append([]string{"-h", host, "-p", port, "-P", "64", "-n", n, "--csv"}, args...)
		out, err := exec.Command(bin, cmd...).CombinedOutput()
		if err != nil {
			b.Fatalf("redis-benchmark %v: %v: %s", args, err, out)
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		fields := strings.Split(lines[len(lines)-1], ",")
		if len(fields) < 2 {
			b.Fatalf("no rate in redis-benchmark output: %s", out)
		}
		r, err := strconv.ParseFloat(strings.Trim(fields[1], `"`), 64)
		if err != nil {
			b.Fatalf("redis-benchmark output %q: %v", lines[len(lines)-1], err)
		}
		return r
	}
	value := strings.Repeat("v", 36) // an Orbit lease record is 27-35 bytes plus its header
	far := strconv.FormatInt(time.Now().Add(time.Hour).UnixMilli(), 10)
	setIdx := cli("SCRIPT", "LOAD", "redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PXAT', ARGV[2]) redis.call('SADD', KEYS[2], KEYS[1])")
	zsetIdx := cli("SCRIPT", "LOAD", "redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PXAT', ARGV[2]) redis.call('ZADD', KEYS[2], 0, KEYS[1])")
	for it := 0; it < b.N; it++ {
		set := rate("1000000", "-t", "set")
		b.ReportMetric(set, "set/s")
		for _, v := range []struct {
			name string
			n    string
			args []string
		}{
			{"set-distinct-keys", "1000000", []string{"-r", "100000000", "-t", "set"}},
			{"set-lease-value", "1000000", []string{"-r", "100000000", "SET", "l:__rand_int__", value}},
			{"set-lease-value-pxat", "1000000", []string{"-r", "100000000", "SET", "l:__rand_int__", value, "PXAT", far}},
			{"script-create+sadd", "300000", []string{"-r", "100000000", "EVALSHA", setIdx, "2", "l:__rand_int__", "x:node", value, far}},
			{"script-create+zadd", "300000", []string{"-r", "100000000", "EVALSHA", zsetIdx, "2", "l:__rand_int__", "x:node", value, far}},
		} {
			b.ReportMetric(rate(v.n, v.args...)/set, v.name+"-ratio")
		}
	}
	cli("SCRIPT", "FLUSH")
}
