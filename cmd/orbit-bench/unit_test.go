package main

import (
	"bytes"
	"errors"
	"flag"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestCheckTarget(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:50051", "127.8.9.10:1", "localhost:50051", "[::1]:50051", "unix:///tmp/orbit.sock"} {
		if err := checkTarget(addr, false); err != nil {
			t.Errorf("%s refused: %v", addr, err)
		}
	}
	for _, addr := range []string{"10.0.0.5:50051", "192.168.1.1:1", "8.8.8.8:53", "example.com:443", "[::2]:1", "0.0.0.0:50051", "nohostport", ""} {
		if err := checkTarget(addr, false); err == nil {
			t.Errorf("%s accepted without --allow-remote", addr)
		}
	}
	if err := checkTarget("10.0.0.5:50051", true); err != nil {
		t.Errorf("--allow-remote: %v", err)
	}
}

func TestParseConfig(t *testing.T) {
	var errOut bytes.Buffer
	c, err := parseConfig([]string{"--mode", "renew", "--concurrency", "8", "--keys", "3"}, &errOut)
	if err != nil {
		t.Fatal(err)
	}
	if c.keys != 8 {
		t.Fatalf("renew with fewer keys than workers: keys=%d, want 8", c.keys)
	}
	c, err = parseConfig([]string{"--measure-failover"}, &errOut)
	if err != nil || c.mode != modeFailover || c.keys != defaultFOKeys {
		t.Fatalf("failover defaults: %+v, %v", c, err)
	}
	c, err = parseConfig(nil, &errOut)
	if err != nil || c.mode != modePlace || c.keys != defaultKeys || c.concurrency != 64 || c.duration != 10*time.Second {
		t.Fatalf("defaults: %+v, %v", c, err)
	}
	for _, args := range [][]string{
		{"--mode", "bogus"}, {"--concurrency", "0"}, {"--concurrency", "5000"}, {"--duration", "0s"},
		{"--duration", "2h"}, {"--nodes", "0"}, {"--keys", "-1"}, {"--type", ""}, {"--addr", "10.1.2.3:1"},
		{"--warmup", "-1s"}, {"--no-such-flag"}, {"extra"},
	} {
		if _, err := parseConfig(args, &errOut); !errors.Is(err, errUsage) {
			t.Errorf("%q: %v, want a usage error", args, err)
		}
	}
	if _, err := parseConfig([]string{"-h"}, &errOut); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v", err)
	}
}

func TestHistogramBuckets(t *testing.T) {
	prevHigh := int64(-1)
	for i := range numBuckets {
		high := bucketHigh(i)
		if high <= prevHigh {
			t.Fatalf("bucket %d high %d <= previous %d", i, high, prevHigh)
		}
		if bucket(high) != i || bucket(prevHigh+1) != i {
			t.Fatalf("bucket %d: bounds [%d, %d] map to %d and %d", i, prevHigh+1, high, bucket(prevHigh+1), bucket(high))
		}
		prevHigh = high
	}
	if prevHigh != maxTracked {
		t.Fatalf("last bucket ends at %d, want %d", prevHigh, maxTracked)
	}
}

func TestHistogramQuantiles(t *testing.T) {
	h := newHistogram()
	if h.quantile(0.5) != 0 || h.mean() != 0 || h.minimum() != 0 {
		t.Fatal("empty histogram is not all zero")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var vals []int64
	for range 100_000 {
		v := int64(rng.ExpFloat64() * float64(200*time.Microsecond))
		vals = append(vals, v)
	}
	// Half go to another histogram merged in.
	o := newHistogram()
	for i, v := range vals {
		if i%2 == 0 {
			h.record(time.Duration(v))
		} else {
			o.record(time.Duration(v))
		}
	}
	h.merge(o)
	h.merge(nil)
	slices.Sort(vals)
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999, 1} {
		exact := vals[int(q*float64(len(vals)-1))]
		got := int64(h.quantile(q))
		if diff := float64(got-exact) / float64(exact); diff < -0.01 || diff > 0.01 {
			t.Errorf("q%.3f = %d, exact %d (%.2f%% off)", q, got, exact, 100*diff)
		}
	}
	if h.total != uint64(len(vals)) || int64(h.minimum()) != vals[0] || h.max != vals[len(vals)-1] {
		t.Fatalf("total %d min %d max %d", h.total, h.minimum(), h.max)
	}
	h.record(-5)              // counts as 0
	h.record(100 * time.Hour) // beyond the tracked range: top bucket, exact max
	if h.max != int64(100*time.Hour) || h.quantile(1) != 100*time.Hour || h.minimum() != 0 {
		t.Fatalf("extremes: max %d q1 %s min %s", h.max, h.quantile(1), h.minimum())
	}
}

func TestReportFormat(t *testing.T) {
	r := result{mode: modeMixed, concurrency: 2, nodes: 1, elapsed: 2 * time.Second, all: newHistogram(),
		errs: map[string]uint64{"Unavailable": 2, "Aborted": 1}}
	for k := range numOps {
		r.byOp[k] = newHistogram()
	}
	for i := range 10 {
		r.all.record(time.Duration(i+1) * time.Millisecond)
		r.byOp[opLocate].record(time.Duration(i+1) * time.Millisecond)
	}
	var b bytes.Buffer
	r.print(&b)
	out := b.String()
	p50 := us(time.Duration(bucketHigh(bucket(int64(5 * time.Millisecond))))) // within 1% above 5 ms
	want := "RESULT mode=mixed ops=10 duration_s=2.000 ops_per_sec=5.0 p50_us=" + p50 +
		" p99_us=10000.0 p999_us=10000.0 max_us=10000.0 errors=3 concurrency=2 nodes=1\n"
	if !strings.HasSuffix(out, want) {
		t.Fatalf("got:\n%s\nwant last line:\n%s", out, want)
	}
	if !strings.Contains(out, "errors: 3 (Aborted=1,Unavailable=2)") || !strings.Contains(out, "locate") {
		t.Fatalf("summary:\n%s", out)
	}
}
