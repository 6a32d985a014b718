package main

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/orbit-go/orbit"
	"github.com/orbit-go/orbit/client"
	"github.com/orbit-go/orbit/server"
	"github.com/orbit-go/orbit/server/servertest"
)

// startServer runs an in-process server with the memory provider and
// returns its address.
func startServer(t *testing.T, timings server.Timings) string {
	t.Helper()
	return servertest.Start(t, timings).Addr()
}

// parseResult finds the last line of out, checks it is a RESULT line and
// returns its key=value fields.
func parseResult(t *testing.T, out string) map[string]string {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	last := lines[len(lines)-1]
	fields := strings.Fields(last)
	if len(fields) < 2 || fields[0] != "RESULT" {
		t.Fatalf("last line is not a RESULT line: %q\n%s", last, out)
	}
	kv := make(map[string]string)
	for _, f := range fields[1:] {
		k, v, ok := strings.Cut(f, "=")
		if !ok || k == "" || v == "" {
			t.Fatalf("malformed RESULT field %q in %q", f, last)
		}
		kv[k] = v
	}
	return kv
}

func num(t *testing.T, kv map[string]string, key string) float64 {
	t.Helper()
	v, ok := kv[key]
	if !ok {
		t.Fatalf("RESULT has no %s: %v", key, kv)
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		t.Fatalf("RESULT %s=%q: %v", key, v, err)
	}
	return f
}

func TestModes(t *testing.T) {
	addr := startServer(t, server.DefaultTimings())
	for _, mode := range []string{modePlace, modeLocate, modeRenew, modeMixed, modePlace + "/batch", modeMixed + "/batch"} {
		t.Run(mode, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			batch := "1"
			if m, ok := strings.CutSuffix(mode, "/batch"); ok {
				mode, batch = m, "50"
			}
			args := []string{"--addr", addr, "--mode", mode, "--duration", "1s", "--warmup", "100ms",
				"--concurrency", "4", "--nodes", "2", "--keys", "200", "--batch", batch}
			if code := run(context.Background(), args, &stdout, &stderr); code != 0 {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
			}
			t.Log("\n" + stdout.String())
			kv := parseResult(t, stdout.String())
			if kv["mode"] != mode {
				t.Fatalf("mode=%s, want %s", kv["mode"], mode)
			}
			if ops := num(t, kv, "ops"); ops <= 0 {
				t.Fatalf("ops=%v\n%s", ops, stdout.String())
			}
			if e := num(t, kv, "errors"); e != 0 {
				t.Fatalf("errors=%v\n%s", e, stdout.String())
			}
			p50, p99, p999 := num(t, kv, "p50_us"), num(t, kv, "p99_us"), num(t, kv, "p999_us")
			if p50 <= 0 || p99 < p50 || p999 < p99 || num(t, kv, "ops_per_sec") <= 0 {
				t.Fatalf("implausible latencies/throughput: %v", kv)
			}
			if d := num(t, kv, "duration_s"); d < 0.9 || d > 1.01 {
				t.Fatalf("duration_s=%v, want the 1s measured window", d)
			}
		})
	}
}

func TestMeasureFailover(t *testing.T) {
	timings := server.DefaultTimings()
	timings.NodeLeaseTTL = 600 * time.Millisecond
	timings.NodeCacheTTL = 50 * time.Millisecond
	timings.SweepInterval = 200 * time.Millisecond
	addr := startServer(t, timings)
	var stdout, stderr bytes.Buffer
	args := []string{"--addr", addr, "--measure-failover", "--keys", "100", "--concurrency", "4", "--failover-timeout", "20s"}
	if code := run(context.Background(), args, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	t.Log("\n" + stdout.String())
	kv := parseResult(t, stdout.String())
	if kv["mode"] != "failover" {
		t.Fatalf("mode=%s", kv["mode"])
	}
	victim, moved := num(t, kv, "on_victim"), num(t, kv, "moved")
	if victim <= 0 || moved != victim || num(t, kv, "keys") != 100 {
		t.Fatalf("on_victim=%v moved=%v: %v", victim, moved, kv)
	}
	if s := num(t, kv, "seconds"); s <= 0 || s > 20 || num(t, kv, "first_s") > s {
		t.Fatalf("seconds=%v first_s=%v", s, kv["first_s"])
	}
	if e := num(t, kv, "errors"); e != 0 {
		t.Fatalf("errors=%v\n%s", e, stdout.String())
	}
}

func TestInterruptedRunStops(t *testing.T) {
	addr := startServer(t, server.DefaultTimings())
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	var stdout, stderr bytes.Buffer
	start := time.Now()
	code := run(ctx, []string{"--addr", addr, "--duration", "1h", "--concurrency", "2", "--nodes", "1"}, &stdout, &stderr)
	if code != 1 || time.Since(start) > 10*time.Second {
		t.Fatalf("interrupted run: exit %d after %s\n%s\n%s", code, time.Since(start), stdout.String(), stderr.String())
	}
	parseResult(t, stdout.String()) // partial results are still reported
}

// TestHold keeps fake nodes alive for an external load tool: during the
// hold a placement of the held type succeeds from another client, and
// the nodes leave when it ends.
func TestHold(t *testing.T) {
	addr := startServer(t, server.DefaultTimings())
	done := make(chan int, 1)
	var stdout, stderr bytes.Buffer
	go func() {
		done <- run(context.Background(), []string{"--addr", addr, "--mode", "hold", "--duration", "2s", "--nodes", "2"}, &stdout, &stderr)
	}()
	ctx := context.Background()
	c, err := client.Dial(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ref := orbit.AddressableReference{Namespace: "default", Type: "Greeter", Key: orbit.StringKey("external-1")}
	var lease orbit.AddressableLease
	for i := 0; ; i++ { // until the nodes have joined
		if lease, _, err = c.LocateOrPlace(ctx, ref); err == nil || i == 100 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil || !strings.HasPrefix(lease.Node.Key, "orbit-bench-") {
		t.Fatalf("placement during the hold = %+v, %v; want it on a held node", lease, err)
	}
	if code := <-done; code != 0 {
		t.Fatalf("hold exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	nodes, err := c.ListNodes(ctx, true)
	if err != nil || len(nodes) != 0 {
		t.Fatalf("active nodes after the hold = %v, %v; want none", nodes, err)
	}
}
