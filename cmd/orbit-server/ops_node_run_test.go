package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orbit-go/orbit"
	"github.com/orbit-go/orbit/client"
	"github.com/orbit-go/orbit/server/servertest"
)

// syncBuffer is a bytes.Buffer safe for one writer and concurrent readers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor polls cond until it holds, failing the test after a generous
// bound (an event that does not come, not a timing requirement).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// jsonEvents parses the JSON Lines of node run.
func jsonEvents(t *testing.T, out string) []map[string]any {
	t.Helper()
	var evs []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("node run -o json line %q: %v", line, err)
		}
		evs = append(evs, ev)
	}
	return evs
}

func hasEvent(evs []map[string]any, event, key string) bool {
	for _, ev := range evs {
		if ev["event"] != event {
			continue
		}
		if l, ok := ev["lease"].(map[string]any); key == "" || ok && l["key"] == key {
			return true
		}
	}
	return false
}

func dialTest(t *testing.T, addr string) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func liveNode(t *testing.T, c *client.Client, key string) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	nodes, err := c.ListNodes(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if n.ID.Key == key {
			return true
		}
	}
	return false
}

// node run joins, outlives several node-lease TTLs, reports an addressable
// placed on it, renews that addressable's lease past its first expiry,
// and leaves when its context ends (the signal), releasing the lease.
func TestOpsNodeRunJSON(t *testing.T) {
	timings := opsTimings()
	timings.AddressableLeaseTTL = 2 * time.Second
	srv := servertest.Start(t, timings)
	addr := srv.Addr()
	c := dialTest(t, addr)

	var out, errb syncBuffer
	f := &connFlags{server: addr, output: "json", timeout: 5 * time.Second}
	r := nodeRunFlags{types: []string{"Greeter"}, key: "demo-1", url: "grpc://127.0.0.1:9100", poll: 20 * time.Millisecond}
	if err := r.check(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- runNode(ctx, func() {}, f, r, &out, &errb) }()

	waitFor(t, "the joined event", func() bool { return hasEvent(jsonEvents(t, out.String()), "joined", "") })
	first := jsonEvents(t, out.String())[0]
	if first["node"] != "demo-1" || first["namespace"] != "default" || first["url"] != "grpc://127.0.0.1:9100" {
		t.Fatalf("joined event: %v", first)
	}
	if !liveNode(t, c, "demo-1") {
		t.Fatal("node run joined, but demo-1 is not listed")
	}

	bob := orbit.AddressableReference{Type: "Greeter", Key: orbit.StringKey("bob")}
	lctx, lcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer lcancel()
	placed, _, err := c.LocateOrPlace(lctx, bob)
	if err != nil || placed.Node.Key != "demo-1" {
		t.Fatalf("LocateOrPlace: %+v, %v", placed, err)
	}
	waitFor(t, "the placed event of bob", func() bool { return hasEvent(jsonEvents(t, out.String()), "placed", "bob") })

	// The 2 s lease of bob is renewed by the node: it is still held at the
	// same epoch after its first expiry, and so is the node (1 s TTL).
	waitFor(t, "bob's lease renewed past its first expiry", func() bool {
		l, err := c.Lookup(lctx, bob)
		if err != nil {
			t.Fatalf("Lookup bob while node run holds it: %v", err)
		}
		if l.Epoch != placed.Epoch || l.Node.Key != "demo-1" {
			t.Fatalf("bob moved: %+v, was %+v", l, placed)
		}
		return l.ExpiresAt.After(placed.ExpiresAt) && time.Now().After(placed.ExpiresAt)
	})
	if !liveNode(t, c, "demo-1") {
		t.Fatal("demo-1 is gone after its node lease TTL: node run does not renew")
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("node run after the signal: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("node run did not return after its context ended")
	}
	evs := jsonEvents(t, out.String())
	last := evs[len(evs)-1]
	if last["event"] != "left" || last["node"] != "demo-1" || last["released"] != 1.0 {
		t.Fatalf("last event %v, want left with 1 lease released", last)
	}
	if liveNode(t, c, "demo-1") {
		t.Fatal("demo-1 is still listed after node run left")
	}
	if _, err := c.Lookup(lctx, bob); !errors.Is(err, orbit.ErrNotFound) {
		t.Fatalf("Lookup bob after the node left: %v, want NotFound", err)
	}
	if s := out.String() + errb.String(); strings.Contains(s, "challenge") {
		t.Fatalf("node run output mentions the challenge token: %s", s)
	}
}

// The cobra command prints lines for people and leaves when its context
// ends; a key held by a live node cannot be joined (exit 1).
func TestOpsNodeRunTable(t *testing.T) {
	srv := servertest.Start(t, opsTimings())
	addr := srv.Addr()
	c := dialTest(t, addr)

	var out, errb syncBuffer
	root := newRootCmd(&out, &errb)
	markRuntimeErrors(root)
	root.SetArgs([]string{"node", "run", "--types", "Greeter,Counter", "--key", "demo-2", "--server", addr, "--poll-interval", "20ms"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()

	waitFor(t, "the joined line", func() bool { return strings.Contains(out.String(), "joined as node demo-2") })
	if want := `joined as node demo-2 in namespace "default" (types Greeter,Counter; url -)`; !strings.Contains(out.String(), want) {
		t.Fatalf("joined line: %q, want %q", out.String(), want)
	}
	wantExit(t, 1, "node", "run", "--types", "Greeter", "--key", "demo-2", "--server", addr)

	wantExit(t, 0, "locate", "Counter/c1", "--server", addr)
	waitFor(t, "the placed line", func() bool { return strings.Contains(out.String(), "placed Counter/c1 on this node (epoch ") })
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("node run: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("node run did not return after its context ended")
	}
	if want := `left the cluster as node demo-2 in namespace "default" (1 lease released)`; !strings.Contains(out.String(), want) {
		t.Fatalf("output %q lacks %q", out.String(), want)
	}
	if liveNode(t, c, "demo-2") {
		t.Fatal("demo-2 still listed after leaving")
	}
}

// A node whose server goes away for longer than the node lease is dropped:
// node run returns an error wrapping client.ErrLeaseLost (exit 1).
func TestOpsNodeRunLosesMembership(t *testing.T) {
	srv := servertest.StartOn(t, servertest.Shared(t), "127.0.0.1:0", opsTimings())
	var out, errb syncBuffer
	f := &connFlags{server: srv.Addr(), output: "table", timeout: 2 * time.Second}
	r := nodeRunFlags{types: []string{"Greeter"}, poll: 20 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- runNode(ctx, func() {}, f, r, &out, &errb) }()
	waitFor(t, "the joined line", func() bool { return strings.Contains(out.String(), "joined as node ") })

	sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer scancel()
	if err := srv.Stop(sctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, client.ErrLeaseLost) || !strings.Contains(err.Error(), "lost its membership") {
			t.Fatalf("node run after its server went away: %v, want the lost lease", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("node run did not notice its lost lease")
	}
}

// An identity with role node but not reader joins and keeps its
// membership; node run says once that it cannot report placements.
func TestOpsNodeRunWithoutReaderRole(t *testing.T) {
	srv := startAuthOpsServer(t, nil, "ops-cli-token-0123456789abcdefghijklmnopqrs")
	tokenPath := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenPath, []byte(nodeOnlyToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb syncBuffer
	f := &connFlags{server: srv.Addr(), output: "table", timeout: 5 * time.Second, tokenFile: tokenPath}
	r := nodeRunFlags{types: []string{"Greeter"}, key: "demo-3", poll: 20 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- runNode(ctx, func() {}, f, r, &out, &errb) }()
	waitFor(t, "the warning about role reader", func() bool { return strings.Contains(errb.String(), "needs role reader") })
	select {
	case err := <-done:
		t.Fatalf("node run stopped: %v", err)
	default:
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("node run: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("node run did not return after its context ended")
	}
	if !strings.Contains(out.String(), "joined as node demo-3") || !strings.Contains(out.String(), "left the cluster as node demo-3") {
		t.Fatalf("output: %s", out.String())
	}
	if n := strings.Count(errb.String(), "warning"); n != 1 {
		t.Fatalf("%d warnings, want 1: %s", n, errb.String())
	}
	if strings.Contains(out.String()+errb.String(), nodeOnlyToken) {
		t.Fatal("the token appeared in the output")
	}
}
