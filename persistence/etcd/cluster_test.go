package etcd_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/orbit-go/orbit/internal/testbackend/etcdtest"
	"github.com/orbit-go/orbit/persistence"
	"github.com/orbit-go/orbit/persistence/driver"
	"github.com/orbit-go/orbit/persistence/etcd"
)

func ref(key string) persistence.AddressableReference {
	return persistence.AddressableReference{Namespace: "default", Type: "Greeter", Key: persistence.StringKey(key)}
}

func node(key string) persistence.NodeID { return persistence.NodeID{Namespace: "default", Key: key} }

// waitHealth polls s until its health has status want, and returns it.
func waitHealth(t *testing.T, s *etcd.Store, want driver.HealthStatus, within time.Duration) driver.Health {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		h := s.HealthCheck(context.Background())
		if h.Status == want {
			return h
		}
		if time.Now().After(deadline) {
			t.Fatalf("health is still %s (%s) after %s, want %s", h.Status, h.Reason, within, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestClusterMemberFailures runs a three-member cluster: with one member
// stopped (the leader) placements and renewals go on and health is
// Degraded naming the member; with two stopped health is Unhealthy and
// operations fail with ErrUnavailable within the request timeout; once
// both are back, operations succeed and health returns to Healthy.
func TestClusterMemberFailures(t *testing.T) {
	cl := etcdtest.Cluster(t, 3)
	o := testOptions(cl)
	o.RequestTimeout = 3 * time.Second
	s := openStore(t, o, "cluster")
	p := persistence.NewProvider("etcd", "Etcd", s)
	addrs := p.Addressables()
	ctx := context.Background()
	const ttl = 10 * time.Minute

	waitHealth(t, s, driver.Healthy, 10*time.Second)
	held, err := addrs.Place(ctx, ref("held"), node("n1"), ttl)
	if err != nil {
		t.Fatal(err)
	}

	first := cl.Leader(t)
	if first < 0 {
		first = 0
	}
	cl.Stop(t, first)
	t.Logf("stopped member %s (the leader)", cl.MemberName(first))
	h := waitHealth(t, s, driver.Degraded, 30*time.Second)
	if !strings.Contains(h.Reason, cl.Endpoint(first)) || !strings.Contains(h.Reason, cl.MemberName(first)) {
		t.Fatalf("degraded reason %q does not name member %s at %s", h.Reason, cl.MemberName(first), cl.Endpoint(first))
	}
	t.Logf("one member down: %s: %s", h.Status, h.Reason)
	for i := 0; i < 20; i++ {
		if _, err := addrs.Place(ctx, ref(fmt.Sprint("one-down-", i)), node("n1"), ttl); err != nil {
			t.Fatalf("place %d with one member down: %v", i, err)
		}
		if held, err = addrs.Renew(ctx, ref("held"), node("n1"), held.Epoch, ttl); err != nil {
			t.Fatalf("renew %d with one member down: %v", i, err)
		}
	}

	second := (first + 1) % 3
	cl.Stop(t, second)
	t.Logf("stopped member %s too", cl.MemberName(second))
	h = waitHealth(t, s, driver.Unhealthy, 30*time.Second)
	t.Logf("two members down: %s: %s", h.Status, h.Reason)
	if ph := p.HealthCheck(ctx); ph.Status != persistence.Unhealthy {
		t.Fatalf("provider health with two members down = %s (%s)", ph.Status, ph.Reason)
	}
	start := time.Now()
	_, err = addrs.Renew(ctx, ref("held"), node("n1"), held.Epoch, ttl)
	took := time.Since(start)
	if !errors.Is(err, persistence.ErrUnavailable) || !strings.Contains(err.Error(), "etcd [") {
		t.Fatalf("renew without quorum = %v, want ErrUnavailable naming the endpoints", err)
	}
	if took > o.RequestTimeout+2*time.Second {
		t.Fatalf("renew without quorum took %s, request timeout %s", took, o.RequestTimeout)
	}
	t.Logf("renew without quorum failed after %s: %v", took.Round(time.Millisecond), err)
	start = time.Now()
	if _, err := addrs.Place(ctx, ref("no-quorum"), node("n1"), ttl); !errors.Is(err, persistence.ErrUnavailable) {
		t.Fatalf("place without quorum = %v, want ErrUnavailable", err)
	}
	if took := time.Since(start); took > o.RequestTimeout+2*time.Second {
		t.Fatalf("place without quorum took %s", took)
	}

	cl.Restart(t, first, false)
	cl.Restart(t, second, false)
	cl.WaitReady(t, first)
	cl.WaitReady(t, second)
	waitHealth(t, s, driver.Healthy, 30*time.Second)
	if held, err = addrs.Renew(ctx, ref("held"), node("n1"), held.Epoch, ttl); err != nil {
		t.Fatalf("renew after recovery: %v", err)
	}
	if _, err := addrs.Place(ctx, ref("recovered"), node("n1"), ttl); err != nil {
		t.Fatalf("place after recovery: %v", err)
	}
	if got, err := addrs.Get(ctx, ref("held")); err != nil || got.Epoch != held.Epoch {
		t.Fatalf("lease after recovery = %+v, %v", got, err)
	}
}

// TestWatchClosesOnCompaction: a watcher whose client is cut off from the
// cluster while the history it needs is compacted cannot resume without
// losing events, so its channel is closed (the caller lists again).
func TestWatchClosesOnCompaction(t *testing.T) {
	cl := etcdtest.Cluster(t, 3)
	o := testOptions(cl)
	o.Endpoints = []string{cl.Endpoint(0)} // the watcher only knows member 0
	s := openStore(t, o, "compact")
	ctx := context.Background()
	ch, err := s.Watch(ctx, "w/")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, "w/a", []byte("1"), driver.Unconditional()); err != nil {
		t.Fatal(err)
	}
	if ev := <-ch; ev.Entry.Key != "w/a" {
		t.Fatalf("first event = %+v", ev)
	}
	cl.Stop(t, 0)
	root := cl.Client(t)
	var last int64
	for i := 0; i < 5; i++ {
		r, err := root.Put(ctx, "compact/w/b", fmt.Sprint(i))
		if err != nil {
			t.Fatal(err)
		}
		last = r.Header.Revision
	}
	if _, err := root.Compact(ctx, last); err != nil {
		t.Fatal(err)
	}
	cl.Restart(t, 0, true)
	deadline := time.After(60 * time.Second)
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				return // closed: the caller re-lists
			}
			t.Fatalf("event %+v delivered although its history was compacted", ev)
		case <-deadline:
			t.Fatal("watch not closed after a compaction of the history it needed")
		}
	}
}
