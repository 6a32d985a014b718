package persistence_test

import (
	"context"
	"testing"
	"time"

	"github.com/orbit-go/orbit/clock"
	"github.com/orbit-go/orbit/persistence"
)

// TestNodeRenewalIsOneWrite renews a node lease ten times on a backend
// whose reads are round trips and expects ten conditional writes and no
// read: the provider renews from the record it last wrote. A record
// changed behind its back costs one read, and the renewal still succeeds.
func TestNodeRenewalIsOneWrite(t *testing.T) {
	ctx := context.Background()
	kv := txnKV{plainKV{newMem(t)}}
	c := clock.NewManual(time.Now())
	p := persistence.NewProvider("remote", "test", kv, persistence.WithClock(c))
	id := persistence.NodeID{Namespace: "default", Key: "n1"}
	const token = "secret-token-of-n1"
	node := persistence.NodeInfo{ID: id, URL: "grpc://127.0.0.1:50051", Status: persistence.NodeActive, Lease: persistence.NodeLease{ChallengeToken: token, RenewAt: c.Now().Add(time.Second), ExpiresAt: c.Now().Add(10 * time.Second)}}
	if _, err := p.Nodes().Join(ctx, node); err != nil {
		t.Fatal(err)
	}
	before := p.Metrics()
	for range 10 {
		c.Advance(2 * time.Second)
		if _, err := p.Nodes().RenewLease(ctx, id, token, 10*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	after := p.Metrics()
	if reads, writes := after.ReadOperations-before.ReadOperations, after.WriteOperations-before.WriteOperations; reads != 0 || writes != 10 {
		t.Fatalf("10 renewals cost %d reads and %d writes, want 0 and 10", reads, writes)
	}
	// Another server renews the same node: this provider's record is stale.
	other := persistence.NewProvider("remote-2", "test", kv, persistence.WithClock(c))
	if _, err := other.Nodes().RenewLease(ctx, id, token, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	l, err := p.Nodes().RenewLease(ctx, id, token, 20*time.Second)
	if err != nil {
		t.Fatalf("renewal after a change behind the provider's back: %v", err)
	}
	got, err := p.Nodes().Get(ctx, id)
	if err != nil || !got.Lease.ExpiresAt.Equal(l.ExpiresAt) || !l.ExpiresAt.Equal(c.Now().Add(20*time.Second)) {
		t.Fatalf("node after the renewal = %+v, %v; want it to expire at %s", got.Lease, err, c.Now().Add(20*time.Second))
	}
	if _, err := p.Nodes().RenewLease(ctx, id, "wrong-token", 10*time.Second); err == nil {
		t.Fatal("a renewal with the wrong token succeeded from the cache")
	}
}
