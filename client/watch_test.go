package client_test

import (
	"context"
	"testing"
	"time"

	"github.com/orbit-go/orbit"
	"github.com/orbit-go/orbit/client"
	"github.com/orbit-go/orbit/server"
	"github.com/orbit-go/orbit/server/servertest"
)

// The watch reports the existing nodes, then joins and departures; when
// its server dies it resumes on the next one that answers at the same
// address and reports exactly what changed meanwhile: a node that left
// and a node that joined during the outage, nothing twice.
func TestWatchNodesResumes(t *testing.T) {
	timings := server.DefaultTimings()
	timings.NodeLeaseTTL = time.Minute // only leaves end memberships here
	reg := servertest.Shared(t)
	first := servertest.StartOn(t, reg, "127.0.0.1:0", timings)
	addr := first.Addr()
	other := servertest.StartOn(t, reg, "127.0.0.1:0", timings)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	watcher, err := client.Dial(ctx, addr, client.WithNamespace("default"), client.WithRenewBackoff(20*time.Millisecond, 200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer watcher.Close()
	members, err := client.Dial(ctx, other.Addr(), client.WithNamespace("default"))
	if err != nil {
		t.Fatal(err)
	}
	defer members.Close()
	join := func(key string) *client.Node {
		n, err := members.Join(ctx, client.NodeOptions{Key: key, URL: "grpc://127.0.0.1:9000",
			Capabilities: orbit.NodeCapabilities{AddressableTypes: []string{"Greeter"}}})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	a := join("a")

	events := make(chan client.NodeEvent, 16)
	errs := make(chan error, 1)
	go func() {
		for ev, err := range watcher.WatchNodes(ctx) {
			if err != nil {
				errs <- err
				return
			}
			events <- ev
		}
	}()
	expect := func(kind client.NodeEventKind, key string) {
		t.Helper()
		select {
		case ev := <-events:
			if ev.Kind != kind || ev.Node.ID.Key != key {
				t.Fatalf("event %s %s, want %s %s", ev.Kind, ev.Node.ID.Key, kind, key)
			}
		case err := <-errs:
			t.Fatalf("watch ended: %v", err)
		case <-ctx.Done():
			t.Fatalf("no %s event for %s", kind, key)
		}
	}
	expect(client.NodeExisting, "a")
	b := join("b")
	expect(client.NodeJoined, "b")

	// The watch's server dies; meanwhile a leaves and c joins.
	if err := first.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	join("c")
	servertest.StartOn(t, reg, addr, timings) // a new server on the same address

	got := map[string]client.NodeEventKind{}
	for len(got) < 2 {
		select {
		case ev := <-events:
			if _, dup := got[ev.Node.ID.Key]; dup {
				t.Fatalf("%s reported twice after the resume", ev.Node.ID.Key)
			}
			got[ev.Node.ID.Key] = ev.Kind
		case err := <-errs:
			t.Fatalf("watch ended: %v", err)
		case <-ctx.Done():
			t.Fatalf("after the resume got %v, want a left and c joined", got)
		}
	}
	if got["a"] != client.NodeLeft || got["c"] != client.NodeJoined {
		t.Fatalf("after the resume got %v, want a left and c joined (b unchanged, not reported)", got)
	}
	if err := b.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	expect(client.NodeLeft, "b")
}
