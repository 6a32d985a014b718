package client

import (
	"context"
	"errors"
	"fmt"

	"github.com/orbit-go/orbit"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Sentinel errors of the client itself. Errors that come from the server
// wrap the portable sentinels of package orbit instead (see Error).
var (
	// ErrLeaseLost is wrapped by the error passed to NodeOptions.OnLeaseLost
	// and returned by Node.Err once the node's membership lease is lost.
	ErrLeaseLost = errors.New("orbit client: node lease lost")
	// ErrLeaseExpired is wrapped (together with ErrLeaseLost) when the node
	// lease expired before a renewal succeeded, e.g. because the server was
	// unreachable for longer than the lease lasts.
	ErrLeaseExpired = errors.New("orbit client: node lease expired before it could be renewed")
	// ErrBadResponse is wrapped when a server response lacks a required
	// field or carries a value the client cannot represent.
	ErrBadResponse = errors.New("orbit client: malformed server response")
)

// Error is a failed call to the server. It keeps the gRPC code and the
// server's message, and wraps the portable error of package orbit that
// the code stands for, so that callers test it with errors.Is:
//
//	InvalidArgument                   → orbit.ErrInvalidArgument
//	NotFound                          → orbit.ErrNotFound
//	FailedPrecondition                → orbit.ErrFenced
//	AlreadyExists, Aborted            → orbit.ErrConflict
//	Unavailable, DeadlineExceeded     → orbit.ErrUnavailable
//	ResourceExhausted                 → orbit.ErrCapacity
//	Unimplemented                     → orbit.ErrUnsupported
//	DataLoss                          → orbit.ErrCorrupt
//
// Canceled and DeadlineExceeded also wrap context.Canceled and
// context.DeadlineExceeded respectively. Other codes (Internal, Unknown,
// PermissionDenied, Unauthenticated, ...) wrap no portable error.
// Error implements GRPCStatus, so status.Code(err) still reports the code.
type Error struct {
	// Op is the RPC that failed, e.g. "LocateOrPlace".
	Op string
	// Code is the gRPC status code.
	Code codes.Code
	// Message is the server's (or the gRPC runtime's) message, verbatim.
	Message string

	kinds []error
}

// Error renders "orbit client: OP: CODE: MESSAGE".
func (e *Error) Error() string {
	return fmt.Sprintf("orbit client: %s: %s: %s", e.Op, e.Code, e.Message)
}

// Unwrap returns the portable orbit error (and context error) that the
// code maps to; it is empty for unmapped codes.
func (e *Error) Unwrap() []error { return e.kinds }

// GRPCStatus returns the status the server answered with.
func (e *Error) GRPCStatus() *status.Status { return status.New(e.Code, e.Message) }

// codeKinds maps gRPC codes to the errors an *Error wraps.
var codeKinds = map[codes.Code][]error{
	codes.InvalidArgument:    {orbit.ErrInvalidArgument},
	codes.OutOfRange:         {orbit.ErrInvalidArgument},
	codes.NotFound:           {orbit.ErrNotFound},
	codes.FailedPrecondition: {orbit.ErrFenced},
	codes.AlreadyExists:      {orbit.ErrConflict},
	codes.Aborted:            {orbit.ErrConflict},
	codes.Unavailable:        {orbit.ErrUnavailable},
	codes.DeadlineExceeded:   {orbit.ErrUnavailable, context.DeadlineExceeded},
	codes.Canceled:           {context.Canceled},
	codes.ResourceExhausted:  {orbit.ErrCapacity},
	codes.Unimplemented:      {orbit.ErrUnsupported},
	codes.DataLoss:           {orbit.ErrCorrupt},
}

// mapError converts an error returned by a generated gRPC stub into an
// *Error. Errors that carry no gRPC status (which the stubs do not return in
// practice) are wrapped with the op as context. nil stays nil.
func mapError(op string, err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	st, ok := status.FromError(err)
	if !ok {
		switch {
		case errors.Is(err, context.Canceled):
			st = status.New(codes.Canceled, err.Error())
		case errors.Is(err, context.DeadlineExceeded):
			st = status.New(codes.DeadlineExceeded, err.Error())
		default:
			return fmt.Errorf("orbit client: %s: %w", op, err)
		}
	}
	return &Error{Op: op, Code: st.Code(), Message: st.Message(), kinds: codeKinds[st.Code()]}
}

// permanent reports whether a failed node-lease renewal means the cluster
// no longer knows the node (or the request can never succeed), so that
// retrying is pointless.
func permanent(err error) bool {
	return errors.Is(err, orbit.ErrFenced) || errors.Is(err, orbit.ErrNotFound) ||
		errors.Is(err, orbit.ErrInvalidArgument) || errors.Is(err, orbit.ErrUnsupported)
}

// invalid builds a client-side argument error naming the field; it wraps
// orbit.ErrInvalidArgument like the server's own.
func invalid(field, format string, args ...any) error {
	return fmt.Errorf("orbit client: %s: %s: %w", field, fmt.Sprintf(format, args...), orbit.ErrInvalidArgument)
}

// malformed builds an ErrBadResponse naming the response field.
func malformed(field, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrBadResponse, field, fmt.Sprintf(format, args...))
}
