package server

import (
	"context"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// inFlight bounds the calls (unary and streaming) in progress on all
// connections together; HTTP/2's MaxConcurrentStreams bounds them per
// connection, this bounds the sum of many connections.
type inFlight struct {
	max int64
	n   atomic.Int64
}

func (f *inFlight) enter() error {
	if f.n.Add(1) > f.max {
		f.n.Add(-1)
		return status.Errorf(codes.ResourceExhausted, "server busy: %d calls in flight, the limit (server.limits.max_streams) is %d", f.max, f.max)
	}
	return nil
}

func (f *inFlight) leave() { f.n.Add(-1) }

func (f *inFlight) unary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if err := f.enter(); err != nil {
		return nil, err
	}
	defer f.leave()
	return h(ctx, req)
}

func (f *inFlight) stream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	if err := f.enter(); err != nil {
		return err
	}
	defer f.leave()
	return h(srv, ss)
}

// watchLimiter bounds the open WatchNodes streams per caller (callerKey)
// and in total. A caller's entry exists only while it has a stream open,
// so callers that come and go leave nothing behind.
type watchLimiter struct {
	perCaller, total int

	mu    sync.Mutex
	open  int
	byKey map[string]int
}

func newWatchLimiter(perCaller, total int) *watchLimiter {
	return &watchLimiter{perCaller: perCaller, total: total, byKey: map[string]int{}}
}

// acquire counts one more watch of the caller of ctx, or answers
// ResourceExhausted naming the limit reached; release must be called once
// when the stream ends.
func (w *watchLimiter) acquire(ctx context.Context) (release func(), err error) {
	key := callerKey(ctx)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.open >= w.total {
		return nil, status.Errorf(codes.ResourceExhausted, "watch streams: %d open, the limit (server.limits.max_watches) is %d", w.open, w.total)
	}
	if w.byKey[key] >= w.perCaller {
		return nil, status.Errorf(codes.ResourceExhausted, "watch streams: caller %s has %d open, the limit (server.limits.max_watches_per_caller) is %d", key, w.byKey[key], w.perCaller)
	}
	w.open++
	w.byKey[key]++
	var once sync.Once
	return func() {
		once.Do(func() {
			w.mu.Lock()
			defer w.mu.Unlock()
			w.open--
			if w.byKey[key]--; w.byKey[key] <= 0 {
				delete(w.byKey, key)
			}
		})
	}, nil
}

// counts returns the open watches and the callers holding them.
func (w *watchLimiter) counts() (open, callers int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.open, len(w.byKey)
}
