package server

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"runtime/debug"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"github.com/orbit-go/orbit/server/auth"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// recoverPanic is the recovery interceptors' handler: a handler that
// panics is answered Internal and the process lives on. The log line names
// the method, the caller and the panic's type and stack; the panic value
// itself is logged only when it is a runtime error (index out of range,
// nil dereference), whose text holds no request data, because an arbitrary
// value may have been built from the request and carry its secrets.
func recoverPanic(log *slog.Logger) recovery.RecoveryHandlerFuncContext {
	return func(ctx context.Context, p any) error {
		method, _ := grpc.Method(ctx)
		what := fmt.Sprintf("%T", p)
		if re, ok := p.(runtime.Error); ok {
			what = re.Error()
		}
		log.Error("handler panicked; answered Internal", "method", method, "caller", auth.FromContext(ctx).String(),
			"peer", auth.PeerAddress(ctx), "panic", what, "stack", string(debug.Stack()))
		return status.Errorf(codes.Internal, "%s: internal error (the server logged it)", shortMethod(method))
	}
}

// recoveryInterceptors returns the outermost unary and stream interceptors.
func recoveryInterceptors(log *slog.Logger) (grpc.UnaryServerInterceptor, grpc.StreamServerInterceptor) {
	opt := recovery.WithRecoveryHandlerContext(recoverPanic(log))
	return recovery.UnaryServerInterceptor(opt), recovery.StreamServerInterceptor(opt)
}
