package cas

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/orbit-go/orbit"
)

func TestRetryStopsAtFirstDecision(t *testing.T) {
	calls := 0
	v, err := Retry(context.Background(), Policy{Attempts: 5}, "place", "ns/T/s:a", func(n int) (int, bool, error) {
		calls++
		return n * 10, n < 2, nil // loses twice, then wins
	})
	if v != 20 || err != nil || calls != 3 {
		t.Fatalf("Retry = %d, %v after %d calls; want 20, nil after 3", v, err, calls)
	}
}

func TestRetryReturnsTheAttemptsError(t *testing.T) {
	boom := errors.New("boom")
	_, err := Retry(context.Background(), Policy{Attempts: 5}, "renew", "x", func(int) (int, bool, error) {
		return 0, false, boom
	})
	if err != boom {
		t.Fatalf("err = %v, want the attempt's own error unwrapped", err)
	}
}

func TestRetryGivesUp(t *testing.T) {
	calls := 0
	_, err := Retry(context.Background(), Policy{Attempts: 4, Backoff: time.Microsecond}, "takeover", "ns/T/s:a", func(int) (struct{}, bool, error) {
		calls++
		return struct{}{}, true, nil
	})
	if calls != 4 || !errors.Is(err, ErrLostRaces) || !errors.Is(err, orbit.ErrConflict) {
		t.Fatalf("after %d calls err = %v; want 4 calls, ErrLostRaces and ErrConflict", calls, err)
	}
	if want := "takeover ns/T/s:a: lost the compare-and-swap race 4 times in a row: conflict"; err.Error() != want {
		t.Fatalf("err = %q, want %q", err, want)
	}
}

func TestRetryPauseEndsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	_, err := Retry(ctx, Policy{Attempts: 10, Backoff: time.Hour}, "store", "k", func(int) (int, bool, error) {
		calls++
		if calls == 2 {
			cancel() // the pause before the third attempt must end now, not in an hour
		}
		return 0, true, nil
	})
	if calls != 2 || !errors.Is(err, context.Canceled) || !strings.HasPrefix(err.Error(), "store k: ") {
		t.Fatalf("after %d calls err = %v; want 2 calls and context.Canceled naming the op", calls, err)
	}
}
