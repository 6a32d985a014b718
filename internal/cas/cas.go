// Package cas runs compare-and-swap loops: read, judge, write with a
// condition, and start again when another writer won the race. The lease
// logic (package persistence) and the server's locate-or-place use it, so
// that every such loop has one bound, one backoff and one error text.
package cas

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/orbit-go/orbit"
)

// ErrLostRaces is wrapped, together with orbit.ErrConflict, by the error of
// a loop whose every attempt lost its race.
var ErrLostRaces = errors.New("lost the compare-and-swap race")

// Policy bounds a loop.
type Policy struct {
	// Attempts is the most attempts of one loop (at least 1).
	Attempts int
	// Backoff is the longest pause between two attempts. The first retry
	// follows at once (a re-read is what resolves a lost race); later ones
	// wait a jittered, exponentially growing time (from Backoff/32, capped
	// at Backoff), so that writers that keep colliding spread out.
	// 0: no pause.
	Backoff time.Duration
}

// DefaultBackoff is the longest pause between two attempts of the lease
// logic's loops.
const DefaultBackoff = 2 * time.Millisecond

// Retry calls attempt(0), attempt(1), ... until it returns again == false,
// at most p.Attempts times, and returns its result. An attempt returns
// again == true when its conditional write lost a race (its error is then
// ignored). When every attempt lost, Retry returns an error naming op and
// subject that wraps ErrLostRaces and orbit.ErrConflict; when ctx ends
// during a pause, ctx's error wrapped with op and subject.
func Retry[T any, S any](ctx context.Context, p Policy, op string, subject S, attempt func(n int) (T, bool, error)) (T, error) {
	n := max(p.Attempts, 1)
	var b *backoff.ExponentialBackOff // made at the first pause: most loops never pause
	for i := 0; i < n; i++ {
		if i >= 2 && p.Backoff > 0 {
			if b == nil {
				b = &backoff.ExponentialBackOff{InitialInterval: max(p.Backoff/32, time.Microsecond),
					RandomizationFactor: 0.5, Multiplier: 2, MaxInterval: p.Backoff}
				b.Reset()
			}
			if err := pause(ctx, b.NextBackOff()); err != nil {
				var zero T
				return zero, fmt.Errorf("%s %v: %w", op, subject, err)
			}
		}
		v, again, err := attempt(i)
		if !again {
			return v, err
		}
	}
	var zero T
	return zero, fmt.Errorf("%s %v: %w %d times in a row: %w", op, subject, ErrLostRaces, n, orbit.ErrConflict)
}

// pause sleeps for d, or until ctx ends.
func pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
