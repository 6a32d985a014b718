package server

import (
	"context"
	"log/slog"
	"time"

	"github.com/orbit-go/orbit/server/auth"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The access log (WithAccessLog): one line per gRPC call, at level info,
// message "access", with
//
//	method    the full method name ("/orbit.v1.AddressableService/LocateOrPlace")
//	identity  the caller as auth established it ("token:<name>",
//	          "certificate:<name>", "anonymous"), never a credential
//	peer      the caller's address
//	code      the gRPC status code ("OK", "PermissionDenied", ...)
//	duration  how long the call took (a stream: its whole life)
//	trace_id, span_id  the call's trace, when it belongs to one (tracing on)
//
// Calls refused by the interceptors after it (decode check, auth, backend
// gate, limits) are logged with their code too. The interceptor sits after
// the metrics one and before auth; auth tells it the identity through
// accessRecord (identityHook).

// accessRecord is what the access log learns of a call from the
// interceptors after it: the identity auth established.
type accessRecord struct {
	id    auth.Identity
	known bool
}

type accessKey struct{}

// accessLogInterceptors log one line per call when the access log is on
// (empty chains when off).
func (s *Server) accessLogInterceptors() ([]grpc.UnaryServerInterceptor, []grpc.StreamServerInterceptor) {
	if !s.accessLog {
		return nil, nil
	}
	return []grpc.UnaryServerInterceptor{s.accessUnary}, []grpc.StreamServerInterceptor{s.accessStream}
}

func (s *Server) accessUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (resp any, err error) {
	start := time.Now()
	rec := &accessRecord{}
	panicked := true
	defer func() {
		if panicked { // the recovery interceptor answers Internal
			err = status.Error(codes.Internal, "panic")
		}
		s.logAccess(ctx, info.FullMethod, rec, err, time.Since(start))
	}()
	resp, err = h(context.WithValue(ctx, accessKey{}, rec), req)
	panicked = false
	return resp, err
}

func (s *Server) accessStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) (err error) {
	start := time.Now()
	rec := &accessRecord{}
	ctx := ss.Context()
	panicked := true
	defer func() {
		if panicked {
			err = status.Error(codes.Internal, "panic")
		}
		s.logAccess(ctx, info.FullMethod, rec, err, time.Since(start))
	}()
	err = h(srv, &accessServerStream{ServerStream: ss, ctx: context.WithValue(ctx, accessKey{}, rec)})
	panicked = false
	return err
}

// accessServerStream carries the accessRecord in its context.
type accessServerStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *accessServerStream) Context() context.Context { return s.ctx }

// logAccess writes the line of one call.
func (s *Server) logAccess(ctx context.Context, method string, rec *accessRecord, err error, d time.Duration) {
	id := rec.id
	if !rec.known {
		id = auth.FromContext(ctx) // auth off, or refused before it identified: anonymous with the peer
	}
	attrs := make([]slog.Attr, 0, 7)
	attrs = append(attrs, slog.String("method", method), slog.String("identity", id.String()),
		slog.String("peer", id.Peer), slog.String("code", status.Code(err).String()), slog.Duration("duration", d))
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		attrs = append(attrs, slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "access", attrs...)
}

// DurationAsString is a slog.HandlerOptions.ReplaceAttr that writes every
// time.Duration as its String form ("1.5s", "250µs") instead of the JSON
// handler's integer nanoseconds; other attributes pass unchanged. The text
// handler already writes that form.
func DurationAsString(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		return slog.String(a.Key, a.Value.Duration().String())
	}
	return a
}

// noteIdentity tells the access log of ctx's call (if any) the identity
// that auth put in ctx.
func noteIdentity(ctx context.Context) {
	if rec, ok := ctx.Value(accessKey{}).(*accessRecord); ok {
		rec.id, rec.known = auth.FromContext(ctx), true
	}
}

// identityHooks wrap the auth interceptors so that the access log learns
// the identity they establish: from the context they hand on when the
// call passes, and for a call they deny (PermissionDenied: an identified
// caller lacking a role) by identifying the caller once more, which only
// denied calls pay. A call refused as Unauthenticated is logged as
// anonymous. Without the access log the interceptors are returned as they
// are.
func (s *Server) identityHooks(u grpc.UnaryServerInterceptor, st grpc.StreamServerInterceptor) (grpc.UnaryServerInterceptor, grpc.StreamServerInterceptor) {
	if !s.accessLog {
		return u, st
	}
	unary := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		resp, err := u(ctx, req, info, func(ctx context.Context, req any) (any, error) {
			noteIdentity(ctx)
			return h(ctx, req)
		})
		if err != nil {
			s.noteDenied(ctx, err)
		}
		return resp, err
	}
	stream := func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		err := st(srv, ss, info, func(srv any, ss grpc.ServerStream) error {
			noteIdentity(ss.Context())
			return h(srv, ss)
		})
		if err != nil {
			s.noteDenied(ss.Context(), err)
		}
		return err
	}
	return unary, stream
}

// noteDenied records the identity of a caller auth denied before the
// handler ran.
func (s *Server) noteDenied(ctx context.Context, err error) {
	rec, ok := ctx.Value(accessKey{}).(*accessRecord)
	if !ok || rec.known || status.Code(err) != codes.PermissionDenied || s.authn == nil {
		return
	}
	if id, ierr := s.authn.IdentifyGRPC(ctx); ierr == nil {
		rec.id, rec.known = id, true
	}
}
