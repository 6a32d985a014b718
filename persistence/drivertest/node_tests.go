package drivertest

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/orbit-go/orbit/persistence"
)

func (h Harness) runNodeTests(t *testing.T) {
	t.Run("StoreGetUpdate", h.testNodeStoreGetUpdate)
	t.Run("RenewLease", h.testNodeRenew)
	t.Run("ListAndCleanup", h.testNodeListCleanup)
	t.Run("Validation", h.testNodeValidation)
	t.Run("JoinIncarnations", h.testJoinIncarnations)
	t.Run("JoinRace", h.testJoinRace)
	t.Run("TokensStoredHashed", h.testTokensStoredHashed)
	t.Run("WatchNodes", h.testWatchNodes)
}

func mkNode(key string, status persistence.NodeStatus, expires time.Time) persistence.NodeInfo {
	return persistence.NodeInfo{
		ID: node(key), URL: "grpc://127.0.0.1:50051/" + key, Status: status,
		Capabilities: persistence.NodeCapabilities{AddressableTypes: []string{"Greeter", "Counter"}, MaxAddressables: 1000,
			Tags: map[string]string{"zone": "a", "version": "1.2"}},
		Lease: persistence.NodeLease{ExpiresAt: expires, RenewAt: expires.Add(-ttl / 2), ChallengeToken: "tok-" + key},
	}
}

func sameNode(a, b persistence.NodeInfo) bool {
	return a.ID == b.ID && a.URL == b.URL && a.Status == b.Status && a.Lease.ExpiresAt.Equal(b.Lease.ExpiresAt) &&
		a.Lease.RenewAt.Equal(b.Lease.RenewAt) &&
		persistence.HashChallengeToken(a.Lease.ChallengeToken) == persistence.HashChallengeToken(b.Lease.ChallengeToken) &&
		fmt.Sprint(a.Capabilities) == fmt.Sprint(b.Capabilities)
}

func (h Harness) testNodeStoreGetUpdate(t *testing.T) {
	e := h.newEnv(t)
	n := mkNode("n1", persistence.NodeActive, e.epoch0.Add(ttl))
	if _, err := e.nodes.Get(e.ctx, n.ID); !errors.Is(err, persistence.ErrNotFound) {
		t.Fatalf("Get before Store = %v, want ErrNotFound", err)
	}
	if err := e.nodes.Store(e.ctx, n); err != nil {
		t.Fatal(err)
	}
	got, err := e.nodes.Get(e.ctx, n.ID)
	if err != nil || !sameNode(got, n) {
		t.Fatalf("Get = %+v, %v; want %+v", got, err, n)
	}
	got.Capabilities.Tags["zone"] = "mutated" // the caller's copy is its own
	if again, _ := e.nodes.Get(e.ctx, n.ID); again.Capabilities.Tags["zone"] != "a" {
		t.Fatal("mutating a returned node changed the stored one")
	}
	upd := n
	upd.Status = persistence.NodeDraining
	if got, err := e.nodes.Update(e.ctx, upd); err != nil || got.Status != persistence.NodeDraining {
		t.Fatalf("Update = %+v, %v", got, err)
	}
	wrong := upd
	wrong.Lease.ChallengeToken = "stolen"
	if _, err := e.nodes.Update(e.ctx, wrong); !errors.Is(err, persistence.ErrFenced) {
		t.Fatalf("Update with a wrong token = %v, want ErrFenced", err)
	}
	if err := e.nodes.Remove(e.ctx, n.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.nodes.Get(e.ctx, n.ID); !errors.Is(err, persistence.ErrNotFound) {
		t.Fatalf("Get after Remove = %v", err)
	}
	if err := e.nodes.Remove(e.ctx, n.ID); err != nil {
		t.Fatalf("Remove of an absent node = %v, want nil", err)
	}
	if _, err := e.nodes.Update(e.ctx, upd); !errors.Is(err, persistence.ErrNotFound) {
		t.Fatalf("Update of an absent node = %v, want ErrNotFound", err)
	}
}

func (h Harness) testNodeRenew(t *testing.T) {
	e := h.newEnv(t)
	n := mkNode("n1", persistence.NodeActive, e.epoch0.Add(ttl))
	if err := e.nodes.Store(e.ctx, n); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(ttl - time.Millisecond)
	l, err := e.nodes.RenewLease(e.ctx, n.ID, n.Lease.ChallengeToken, ttl)
	if err != nil || !l.ExpiresAt.Equal(e.clock.Now().Add(ttl)) || l.ChallengeToken != n.Lease.ChallengeToken {
		t.Fatalf("RenewLease = %+v, %v", l, err)
	}
	if _, err := e.nodes.RenewLease(e.ctx, n.ID, "wrong", ttl); !errors.Is(err, persistence.ErrFenced) {
		t.Fatalf("RenewLease with a wrong token = %v, want ErrFenced", err)
	}
	e.clock.Advance(ttl)
	if _, err := e.nodes.Get(e.ctx, n.ID); !errors.Is(err, persistence.ErrNotFound) {
		t.Fatalf("Get of an expired node = %v, want ErrNotFound", err)
	}
	if _, err := e.nodes.RenewLease(e.ctx, n.ID, n.Lease.ChallengeToken, ttl); !errors.Is(err, persistence.ErrNotFound) {
		t.Fatalf("RenewLease of an expired node = %v, want ErrNotFound", err)
	}
}

func nodeKeys(ns []persistence.NodeInfo) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.ID.String()
	}
	sort.Strings(out)
	return out
}

func (h Harness) testNodeListCleanup(t *testing.T) {
	e := h.newEnv(t)
	for _, n := range []persistence.NodeInfo{
		mkNode("active1", persistence.NodeActive, e.epoch0.Add(ttl)),
		mkNode("active2", persistence.NodeActive, e.epoch0.Add(2*ttl)),
		mkNode("draining", persistence.NodeDraining, e.epoch0.Add(2*ttl)),
		mkNode("starting", persistence.NodeStarting, e.epoch0.Add(2*ttl)),
	} {
		if err := e.nodes.Store(e.ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	other := mkNode("elsewhere", persistence.NodeActive, e.epoch0.Add(2*ttl))
	other.ID.Namespace = "other"
	if err := e.nodes.Store(e.ctx, other); err != nil {
		t.Fatal(err)
	}
	active, err := e.nodes.ListActive(e.ctx, "default")
	if err != nil || fmt.Sprint(nodeKeys(active)) != "[default/active1 default/active2]" {
		t.Fatalf("ListActive = %v, %v", nodeKeys(active), err)
	}
	all, err := e.nodes.ListAll(e.ctx, "default")
	if err != nil || len(all) != 4 {
		t.Fatalf("ListAll(default) = %v, %v", nodeKeys(all), err)
	}
	if all, _ := e.nodes.ListAll(e.ctx, ""); len(all) != 5 {
		t.Fatalf("ListAll(all namespaces) = %v", nodeKeys(all))
	}
	e.clock.Advance(ttl)
	if active, _ := e.nodes.ListActive(e.ctx, "default"); fmt.Sprint(nodeKeys(active)) != "[default/active2]" {
		t.Fatalf("ListActive after expiry = %v", nodeKeys(active))
	}
	if n, err := e.nodes.CleanupExpired(e.ctx); err != nil || n != 1 {
		t.Fatalf("CleanupExpired = %d, %v; want 1", n, err)
	}
	if n := countKeys(t, e.store, "n/"); n != 4 {
		t.Fatalf("%d node records remain, want 4", n)
	}
}

func (h Harness) testNodeValidation(t *testing.T) {
	e := h.newEnv(t)
	bad := mkNode("n1", persistence.NodeActive, e.epoch0.Add(ttl))
	bad.Capabilities.AddressableTypes = []string{""}
	if err := e.nodes.Store(e.ctx, bad); !errors.Is(err, persistence.ErrInvalidArgument) || !strings.Contains(err.Error(), "capabilities.addressable_types[0]") {
		t.Fatalf("Store with an empty type = %v", err)
	}
	bad = mkNode("n1", 0, e.epoch0.Add(ttl))
	if err := e.nodes.Store(e.ctx, bad); !errors.Is(err, persistence.ErrInvalidArgument) || !strings.Contains(err.Error(), "status") {
		t.Fatalf("Store with no status = %v", err)
	}
	bad = mkNode("n1", persistence.NodeActive, time.Time{})
	if err := e.nodes.Store(e.ctx, bad); !errors.Is(err, persistence.ErrInvalidArgument) || !strings.Contains(err.Error(), "lease.expires_at") {
		t.Fatalf("Store with no expiry = %v", err)
	}
	if _, err := e.nodes.Get(e.ctx, persistence.NodeID{Namespace: "x"}); !errors.Is(err, persistence.ErrInvalidArgument) {
		t.Fatalf("Get with an empty key = %v", err)
	}
}
