package server

import (
	"container/list"
	"context"
	"sync"

	"github.com/orbit-go/orbit/server/auth"
	"golang.org/x/time/rate"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// callerKey is whom a per-caller limit counts: an authenticated identity
// by its name, an anonymous caller by its host (one host opening many
// connections from many ports is one caller).
func callerKey(ctx context.Context) string {
	id := auth.FromContext(ctx)
	if id.Kind == auth.Anonymous || id.Name == "" {
		return "host:" + auth.PeerHost(ctx)
	}
	return id.String()
}

// rateLimiter is a token bucket per caller (golang.org/x/time/rate) in a
// table bounded to max callers: when it is full the least recently seen
// caller is forgotten (its next request starts with a full bucket), so no
// number of distinct callers grows it beyond max.
type rateLimiter struct {
	limit rate.Limit
	burst int
	max   int

	mu    sync.Mutex
	byKey map[string]*list.Element // -> *rateEntry
	lru   list.List                // front: most recently seen
}

type rateEntry struct {
	key string
	lim *rate.Limiter
}

func newRateLimiter(perSecond float64, burst, max int) *rateLimiter {
	return &rateLimiter{limit: rate.Limit(perSecond), burst: burst, max: max, byKey: map[string]*list.Element{}}
}

// allow takes one token from key's bucket, reporting whether there was one.
func (r *rateLimiter) allow(key string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if el, ok := r.byKey[key]; ok {
		r.lru.MoveToFront(el)
		return el.Value.(*rateEntry).lim.Allow()
	}
	for r.lru.Len() >= r.max {
		oldest := r.lru.Back()
		r.lru.Remove(oldest)
		delete(r.byKey, oldest.Value.(*rateEntry).key)
	}
	e := &rateEntry{key: key, lim: rate.NewLimiter(r.limit, r.burst)}
	r.byKey[key] = r.lru.PushFront(e)
	return e.lim.Allow()
}

// callers is how many callers the table remembers.
func (r *rateLimiter) callers() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lru.Len()
}

func (r *rateLimiter) check(ctx context.Context) error {
	key := callerKey(ctx)
	if r.allow(key) {
		return nil
	}
	return status.Errorf(codes.ResourceExhausted, "rate limit: caller %s exceeds %g requests/s, burst %d (server.limits.rate_per_second, server.limits.rate_burst)",
		key, float64(r.limit), r.burst)
}

func (r *rateLimiter) unary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if err := r.check(ctx); err != nil {
		return nil, err
	}
	return h(ctx, req)
}

// stream counts the opening of a stream as one request.
func (r *rateLimiter) stream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	if err := r.check(ss.Context()); err != nil {
		return err
	}
	return h(srv, ss)
}
