package server

import (
	"context"
	"time"

	"google.golang.org/grpc"
)

// deadline is the innermost interceptor: the storage calls a unary request
// makes run under a context that ends BackendTimeout after the request
// arrived (or at the client's deadline, if sooner), so a stuck backend
// answers DeadlineExceeded instead of holding the call (and its memory)
// forever. Streams are long-lived: WatchNodes bounds each of its polls
// instead (see Server.backendContext).
type deadline struct {
	timeout time.Duration
	// hook, when set (tests only, through export_test.go), runs just before
	// the handler; a test makes it panic to exercise the recovery.
	hook func(ctx context.Context, fullMethod string)
}

func (d *deadline) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	if d.hook != nil {
		d.hook(ctx, info.FullMethod)
	}
	return h(ctx, req)
}

func (d *deadline) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	if d.hook != nil {
		d.hook(ss.Context(), info.FullMethod)
	}
	return h(srv, ss)
}

// backendContext bounds one storage call made for a long-lived request.
func (s *Server) backendContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.limits.BackendTimeout)
}
