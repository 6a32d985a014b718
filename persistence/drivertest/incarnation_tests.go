package drivertest

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/orbit-go/orbit/persistence"
	"github.com/orbit-go/orbit/persistence/driver"
)

// Node incarnations (issue 19): a re-join after a lapse is a new life of
// the node that never inherits the leases of the previous one.

// testJoinIncarnations: Join creates, refuses a live id, replaces a lapsed
// one with a new incarnation and token; the old token is dead.
func (h Harness) testJoinIncarnations(t *testing.T) {
	e := h.newEnv(t)
	first := mkNode("c", persistence.NodeActive, e.epoch0.Add(ttl))
	j1, err := e.nodes.Join(e.ctx, first)
	if err != nil {
		t.Fatal(err)
	}
	if j1.Lease.Incarnation == 0 || j1.Lease.ChallengeToken != first.Lease.ChallengeToken {
		t.Fatalf("Join = incarnation %d, token %q; want a non-zero incarnation and the clear token", j1.Lease.Incarnation, j1.Lease.ChallengeToken)
	}
	got, err := e.nodes.Get(e.ctx, first.ID)
	if err != nil || got.Lease.Incarnation != j1.Lease.Incarnation || !got.Lease.TokenMatches(first.Lease.ChallengeToken) {
		t.Fatalf("Get after Join = %+v, %v", got.Lease, err)
	}
	again := mkNode("c", persistence.NodeActive, e.epoch0.Add(ttl))
	again.URL, again.Lease.ChallengeToken = "grpc://attacker:1", "tok-attacker"
	if _, err := e.nodes.Join(e.ctx, again); !errors.Is(err, persistence.ErrConflict) {
		t.Fatalf("Join of a live id = %v, want ErrConflict", err)
	}
	if got, _ := e.nodes.Get(e.ctx, first.ID); got.URL != first.URL {
		t.Fatalf("a refused Join changed the node: url %q", got.URL)
	}

	e.clock.Advance(ttl + time.Millisecond) // the first life lapses
	again.Lease.ExpiresAt, again.Lease.RenewAt = e.clock.Now().Add(ttl), e.clock.Now().Add(ttl/2)
	j2, err := e.nodes.Join(e.ctx, again)
	if err != nil {
		t.Fatalf("Join over a lapsed node: %v", err)
	}
	if j2.Lease.Incarnation == 0 || j2.Lease.Incarnation == j1.Lease.Incarnation {
		t.Fatalf("re-join incarnation %d, first %d: want a new one", j2.Lease.Incarnation, j1.Lease.Incarnation)
	}
	if _, err := e.nodes.RenewLease(e.ctx, first.ID, first.Lease.ChallengeToken, ttl); !errors.Is(err, persistence.ErrFenced) {
		t.Fatalf("renewal with the first life's token = %v, want ErrFenced", err)
	}
	l, err := e.nodes.RenewLease(e.ctx, first.ID, again.Lease.ChallengeToken, ttl)
	if err != nil || l.Incarnation != j2.Lease.Incarnation || l.ChallengeToken != again.Lease.ChallengeToken {
		t.Fatalf("renewal of the second life = %+v, %v", l, err)
	}
	upd := again
	upd.Status, upd.Lease.Incarnation, upd.Owner = persistence.NodeDraining, 7, "token:someone-else"
	u, err := e.nodes.Update(e.ctx, upd)
	if err != nil || u.Lease.Incarnation != j2.Lease.Incarnation || u.Owner != j2.Owner || u.Status != persistence.NodeDraining {
		t.Fatalf("Update = %+v, %v: want the stored incarnation and owner kept", u, err)
	}

	// Swept, then joined again: still a new incarnation.
	e.clock.Advance(2 * ttl)
	if _, err := e.nodes.CleanupExpired(e.ctx); err != nil {
		t.Fatal(err)
	}
	third := mkNode("c", persistence.NodeActive, e.clock.Now().Add(ttl))
	j3, err := e.nodes.Join(e.ctx, third)
	if err != nil {
		t.Fatal(err)
	}
	if j3.Lease.Incarnation == j2.Lease.Incarnation || j3.Lease.Incarnation == j1.Lease.Incarnation || j3.Lease.Incarnation == 0 {
		t.Fatalf("join after sweep: incarnation %d repeats (%d, %d)", j3.Lease.Incarnation, j1.Lease.Incarnation, j2.Lease.Incarnation)
	}
	bad := third
	bad.Lease.ChallengeToken = ""
	bad.ID.Key = "no-token"
	if _, err := e.nodes.Join(e.ctx, bad); !errors.Is(err, persistence.ErrInvalidArgument) || !strings.Contains(err.Error(), "challenge_token") {
		t.Fatalf("Join without a token = %v, want ErrInvalidArgument naming challenge_token", err)
	}
}

// testJoinRace: of racing joins of one id, exactly one wins, whether the id
// is absent or lapsed.
func (h Harness) testJoinRace(t *testing.T) {
	e := h.newEnv(t)
	const racers = 8
	for round, phase := range []string{"absent", "lapsed"} {
		if round == 1 {
			e.clock.Advance(ttl + time.Millisecond)
		}
		exp := e.clock.Now().Add(ttl)
		wins, errs := race(racers, func(i int) error {
			n := mkNode("raced", persistence.NodeActive, exp)
			n.Lease.ChallengeToken = fmt.Sprintf("tok-%d-%d", round, i)
			_, err := e.nodes.Join(e.ctx, n)
			return err
		})
		if wins != 1 {
			t.Fatalf("%s: %d of %d racing joins won (errors %v), want exactly 1", phase, wins, racers, errs)
		}
		for _, err := range errs {
			if !errors.Is(err, persistence.ErrConflict) {
				t.Fatalf("%s: a losing join failed with %v, want ErrConflict", phase, err)
			}
		}
	}
}

// testTokensStoredHashed: no record in the backend holds a challenge token
// in clear, and the stored digest is not accepted as a token.
func (h Harness) testTokensStoredHashed(t *testing.T) {
	e := h.newEnv(t)
	const secret = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
	joined := mkNode("j", persistence.NodeActive, e.epoch0.Add(ttl))
	joined.Lease.ChallengeToken = secret
	if _, err := e.nodes.Join(e.ctx, joined); err != nil {
		t.Fatal(err)
	}
	stored := mkNode("s", persistence.NodeActive, e.epoch0.Add(ttl))
	stored.Lease.ChallengeToken = secret + "-stored"
	if err := e.nodes.Store(e.ctx, stored); err != nil {
		t.Fatal(err)
	}
	page, err := e.store.List(bg, "n/", driver.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Entries) != 2 {
		t.Fatalf("%d node records, want 2", len(page.Entries))
	}
	for _, en := range page.Entries {
		if strings.Contains(string(en.Value), secret) {
			t.Fatalf("record %q holds a challenge token in clear", en.Key)
		}
	}
	got, err := e.nodes.Get(e.ctx, joined.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Lease.ChallengeToken == secret || !got.Lease.TokenMatches(secret) {
		t.Fatalf("Get returned token %q; want the digest, matching the secret", got.Lease.ChallengeToken)
	}
	if _, err := e.nodes.RenewLease(e.ctx, joined.ID, got.Lease.ChallengeToken, ttl); !errors.Is(err, persistence.ErrFenced) {
		t.Fatalf("renewal presenting the stored digest = %v, want ErrFenced", err)
	}
	if _, err := e.nodes.RenewLease(e.ctx, stored.ID, stored.Lease.ChallengeToken, ttl); err != nil {
		t.Fatalf("renewal of a stored node with its token: %v", err)
	}
}

// testIncarnationFencing: a lease is bound to the incarnation it was
// granted to; another incarnation of the same node can neither renew nor
// release it, Place does not hand it over, and only a takeover (a new
// epoch) moves it to the new life.
func (h Harness) testIncarnationFencing(t *testing.T) {
	e := h.newEnv(t)
	const life1, life2 = 0x1111, 0x2222
	r, n := ref("victim"), node("c")
	l, err := e.addrs.Place(e.ctx, r, n, ttl, persistence.OfIncarnation(life1))
	if err != nil {
		t.Fatal(err)
	}
	if l.NodeIncarnation != life1 {
		t.Fatalf("placed lease incarnation %d, want %d", l.NodeIncarnation, life1)
	}
	if got, err := e.addrs.Get(e.ctx, r); err != nil || got.NodeIncarnation != life1 {
		t.Fatalf("Get = %+v, %v", got, err)
	}
	if _, err := e.addrs.Renew(e.ctx, r, n, l.Epoch, ttl, persistence.OfIncarnation(life2)); !errors.Is(err, persistence.ErrFenced) {
		t.Fatalf("renewal by another incarnation = %v, want ErrFenced", err)
	}
	if err := e.addrs.Release(e.ctx, r, n, l.Epoch, persistence.OfIncarnation(life2)); !errors.Is(err, persistence.ErrFenced) {
		t.Fatalf("release by another incarnation = %v, want ErrFenced", err)
	}
	stale := l
	stale.NodeIncarnation, stale.ExpiresAt = life2, l.ExpiresAt.Add(time.Second)
	if _, err := e.addrs.Update(e.ctx, stale); !errors.Is(err, persistence.ErrFenced) {
		t.Fatalf("Update by another incarnation = %v, want ErrFenced", err)
	}
	var lc *persistence.LeaseConflictError
	if _, err := e.addrs.Place(e.ctx, r, n, ttl, persistence.OfIncarnation(life2)); !errors.As(err, &lc) || lc.Current.Epoch != l.Epoch {
		t.Fatalf("Place by the new incarnation = %v, want a conflict with the first life's lease", err)
	}
	if got, _ := e.addrs.Get(e.ctx, r); !got.Equal(l) {
		t.Fatalf("refused calls changed the lease: %+v", got)
	}
	if renewed, err := e.addrs.Renew(e.ctx, r, n, l.Epoch, ttl, persistence.OfIncarnation(life1)); err != nil || renewed.NodeIncarnation != life1 {
		t.Fatalf("renewal by its own incarnation = %+v, %v", renewed, err)
	}
	moved, err := e.addrs.Takeover(e.ctx, r, n, l.Epoch, n, ttl, persistence.OfIncarnation(life2))
	if err != nil {
		t.Fatal(err)
	}
	if moved.Epoch <= l.Epoch || moved.NodeIncarnation != life2 {
		t.Fatalf("takeover = epoch %d incarnation %d; want epoch > %d, incarnation %d", moved.Epoch, moved.NodeIncarnation, l.Epoch, life2)
	}
	if _, err := e.addrs.Renew(e.ctx, r, n, moved.Epoch, ttl, persistence.OfIncarnation(life1)); !errors.Is(err, persistence.ErrFenced) {
		t.Fatalf("the first life renewing the new lease = %v, want ErrFenced", err)
	}
	if _, err := e.addrs.Renew(e.ctx, r, n, l.Epoch, ttl, persistence.OfIncarnation(life1)); !errors.Is(err, persistence.ErrFenced) {
		t.Fatalf("the first life renewing its old epoch = %v, want ErrFenced", err)
	}
	if err := e.addrs.Release(e.ctx, r, n, moved.Epoch, persistence.OfIncarnation(life2)); err != nil {
		t.Fatalf("release by the new life: %v", err)
	}
}
