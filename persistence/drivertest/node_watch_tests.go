package drivertest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/orbit-go/orbit/persistence"
	"github.com/orbit-go/orbit/persistence/driver"
)

// testWatchNodes: with the watch capability, a join, a renewal and a
// removal in the watched namespace arrive in order, and nothing from
// another namespace; without it, ErrUnsupported.
func (h Harness) testWatchNodes(t *testing.T) {
	e := h.newEnv(t)
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	ch, err := e.nodes.WatchNodes(ctx, "default")
	if !h.claims(driver.CapWatch) {
		if !errors.Is(err, persistence.ErrUnsupported) {
			t.Fatalf("WatchNodes without the watch capability = %v, want ErrUnsupported", err)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	other := mkNode("elsewhere", persistence.NodeActive, e.clock.Now().Add(ttl))
	other.ID.Namespace = "other"
	if _, err := e.nodes.Join(e.ctx, other); err != nil {
		t.Fatal(err)
	}
	joined, err := e.nodes.Join(e.ctx, mkNode("w1", persistence.NodeActive, e.clock.Now().Add(ttl)))
	if err != nil {
		t.Fatal(err)
	}
	next := func(what string) persistence.NodeChange {
		t.Helper()
		select {
		case c, ok := <-ch:
			if !ok {
				t.Fatalf("%s: the watch closed", what)
			}
			if c.Err != nil {
				t.Fatalf("%s: %v", what, c.Err)
			}
			return c
		case <-time.After(20 * time.Second):
			t.Fatalf("%s: no change within 20 s", what)
		}
		return persistence.NodeChange{}
	}
	c := next("join")
	if c.ID != joined.ID || c.Removed || c.Node.Lease.Incarnation != joined.Lease.Incarnation || !c.Node.Lease.TokenMatches(joined.Lease.ChallengeToken) {
		t.Fatalf("join change = %+v, want node w1 of incarnation %d", c, joined.Lease.Incarnation)
	}
	e.clock.Advance(time.Second)
	renewed, err := e.nodes.RenewLease(e.ctx, joined.ID, joined.Lease.ChallengeToken, ttl)
	if err != nil {
		t.Fatal(err)
	}
	if c := next("renewal"); c.ID != joined.ID || !c.Node.Lease.ExpiresAt.Equal(renewed.ExpiresAt) {
		t.Fatalf("renewal change = %+v, want expiry %s", c, renewed.ExpiresAt)
	}
	if err := e.nodes.Remove(e.ctx, joined.ID); err != nil {
		t.Fatal(err)
	}
	if c := next("removal"); c.ID != joined.ID || !c.Removed {
		t.Fatalf("removal change = %+v", c)
	}
	if _, err := e.nodes.WatchNodes(ctx, "bad/\xff"); !errors.Is(err, persistence.ErrInvalidArgument) {
		t.Fatalf("WatchNodes of an invalid namespace = %v", err)
	}
}
