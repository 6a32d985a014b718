package redis

// This file holds the resending of requests after connection errors: retry
// (reads), resend (writes), and the operation ids that let a resent write
// recognise its own earlier success.

import (
	"context"
	"strconv"
	"time"
)

// opID returns an identifier no other write of any store will use: a
// random prefix chosen at Open and a counter.
func (s *Store) opID() string {
	return s.opPrefix + strconv.FormatUint(s.opSeq.Add(1), 36)
}

// retry runs a request up to 1+retries times while it fails with a
// connection error, backing off 50 ms, 100 ms, ... (at most 1 s). A
// connection that broke (the server restarted) fails once per pipelined
// connection before the client redials it: those failures are resent at
// once and not counted, up to the number of connections.
func (s *Store) retry(ctx context.Context, fn func(context.Context) error) error {
	delay := 50 * time.Millisecond
	broken := 0
	for attempt := 0; ; attempt++ {
		err := fn(ctx)
		if err == nil || !retryable(err) || ctx.Err() != nil || s.closed.Load() {
			return err
		}
		if brokenConn(err) && broken < s.wires {
			broken++
			attempt--
			continue
		}
		if attempt >= s.retries {
			return err
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		delay = min(2*delay, time.Second)
	}
}

// resend runs a write like retry runs a read, but only when it can tell a
// resent write from a new one: not an atomic transaction (its conflict
// would be ambiguous); independent operations are resent in mode "r"
// (ARGV[2]), where each put recognizes its own operation id.
func (s *Store) resend(ctx context.Context, atomic bool, args []string, fn func(context.Context) error) error {
	if atomic {
		return fn(ctx)
	}
	first := true
	return s.retry(ctx, func(ctx context.Context) error {
		if !first {
			args[1] = "r"
		}
		first = false
		return fn(ctx)
	})
}
