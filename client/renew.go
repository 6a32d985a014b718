package client

import (
	"context"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/orbit-go/orbit"
	orbitv1 "github.com/orbit-go/orbit/api/orbit/v1"
)

// The background renewal of a node lease.
//
// Timing comes from the server: the loop sleeps until the lease's RenewAt
// (a sixth of the TTL by default on the Orbit server), read against the client's clock, then
// renews. A transient failure (Unavailable, DeadlineExceeded, Internal, ...)
// is retried with jittered exponential backoff, each attempt bounded by the
// time left on the lease, until the lease expires. A permanent failure
// (FailedPrecondition/ErrFenced, NotFound, InvalidArgument) ends the loop at
// once. As in the rest of Orbit, the client's and the server's clocks must
// agree within a small fraction of the TTL.

// renewLoop renews until ctx is cancelled (it then returns nil) or the lease
// is lost (it returns why, wrapping ErrLeaseLost).
func (n *Node) renewLoop(ctx context.Context) error {
	for {
		lease := n.Lease()
		// The floor keeps a client whose clock runs ahead of the server's
		// from renewing in a tight loop.
		left := lease.ExpiresAt.Sub(n.c.opts.clock.Now())
		wait := max(n.untilRenew(lease), min(n.c.opts.backoffMin, left/2))
		if !sleepCtx(ctx, wait) {
			return nil
		}
		if err := n.renewWithRetry(ctx, lease); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
}

// untilRenew is how long to wait before renewing l: until RenewAt, or half
// the time left if RenewAt is missing or not before ExpiresAt.
func (n *Node) untilRenew(l orbit.NodeLease) time.Duration {
	now := n.c.opts.clock.Now()
	if l.RenewAt.IsZero() || !l.RenewAt.Before(l.ExpiresAt) {
		return l.ExpiresAt.Sub(now) / 2
	}
	return l.RenewAt.Sub(now)
}

// renewWithRetry renews lease, retrying transient errors until it expires.
func (n *Node) renewWithRetry(ctx context.Context, lease orbit.NodeLease) error {
	o := n.c.opts
	retryDelay := &backoff.ExponentialBackOff{InitialInterval: o.backoffMin, RandomizationFactor: 0.5,
		Multiplier: 2, MaxInterval: o.backoffMax}
	retryDelay.Reset()
	var last error
	for attempt := 1; ; attempt++ {
		left := lease.ExpiresAt.Sub(o.clock.Now())
		if left <= 0 {
			if last == nil {
				return fmt.Errorf("%w: %w: node %s (lease expired at %s before renewal started)",
					ErrLeaseLost, ErrLeaseExpired, n.id, lease.ExpiresAt.Format(time.RFC3339Nano))
			}
			return fmt.Errorf("%w: %w: node %s after %d attempts; last error: %w",
				ErrLeaseLost, ErrLeaseExpired, n.id, attempt-1, last)
		}
		callCtx, cancel := context.WithTimeout(ctx, n.c.backgroundTimeout(lease.ExpiresAt))
		renewed, err := n.renewOnce(callCtx, lease.ChallengeToken)
		cancel()
		if err == nil {
			n.mu.Lock()
			n.lease = renewed
			n.mu.Unlock()
			if attempt > 1 {
				n.c.log.Info("orbit client: node lease renewed after retries", "node", n.id.String(), "attempts", attempt)
			}
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if permanent(err) {
			return fmt.Errorf("%w: node %s: %w", ErrLeaseLost, n.id, err)
		}
		last = err
		n.c.log.Warn("orbit client: node lease renewal failed, retrying",
			"node", n.id.String(), "attempt", attempt, "error", err)
		wait := min(retryDelay.NextBackOff(), o.backoffMax)
		if left = lease.ExpiresAt.Sub(o.clock.Now()); wait > left/2 {
			wait = left / 2
		}
		if !sleepCtx(ctx, wait) {
			return ctx.Err()
		}
	}
}

// renewOnce sends one RenewLease. A response without a challenge token
// keeps the current one.
func (n *Node) renewOnce(ctx context.Context, token string) (orbit.NodeLease, error) {
	const op = "NodeService.RenewLease"
	resp, err := n.c.nodes.RenewLease(ctx, &orbitv1.RenewNodeLeaseRequest{Id: orbitv1.NodeIDToProto(n.id), ChallengeToken: token})
	if err != nil {
		return orbit.NodeLease{}, mapError(op, err)
	}
	l, err := nodeLeaseFromProto("lease", resp.GetLease())
	if err != nil {
		return orbit.NodeLease{}, fmt.Errorf("orbit client: %s: node %s: %w", op, n.id, err)
	}
	if l.ChallengeToken == "" {
		l.ChallengeToken = token
	}
	return l, nil
}

// sleepCtx waits d (nothing if d <= 0); it reports false if ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
