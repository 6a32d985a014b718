package client

import (
	"context"
	"errors"
	"fmt"

	"github.com/orbit-go/orbit/persistence"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Sentinel errors of the client itself. Errors that come from the server
// wrap the portable sentinels of package persistence instead (see Error).
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
// server's message, and wraps the portable error of package persistence that
// the code stands for, so that callers test it with errors.Is:
//
//	InvalidArgument                   → persistence.ErrInvalidArgument
//	NotFound                          → persistence.ErrNotFound
//	FailedPrecondition                → persistence.ErrFenced
//	AlreadyExists, Aborted            → persistence.ErrConflict
//	Unavailable, DeadlineExceeded     → persistence.ErrUnavailable
//	ResourceExhausted                 → persistence.ErrCapacity
//	Unimplemented                     → persistence.ErrUnsupported
//	DataLoss                          → persistence.ErrCorrupt
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

// Unwrap returns the portable persistence error (and context error) that the
// code maps to; it is empty for unmapped codes.
func (e *Error) Unwrap() []error { return e.kinds }

// GRPCStatus returns the status the server answered with.
func (e *Error) GRPCStatus() *status.Status { return status.New(e.Code, e.Message) }

// codeKinds maps gRPC codes to the errors an *Error wraps.
var codeKinds = map[codes.Code][]error{
	codes.InvalidArgument:    {persistence.ErrInvalidArgument},
	codes.OutOfRange:         {persistence.ErrInvalidArgument},
	codes.NotFound:           {persistence.ErrNotFound},
	codes.FailedPrecondition: {persistence.ErrFenced},
	codes.AlreadyExists:      {persistence.ErrConflict},
	codes.Aborted:            {persistence.ErrConflict},
	codes.Unavailable:        {persistence.ErrUnavailable},
	codes.DeadlineExceeded:   {persistence.ErrUnavailable, context.DeadlineExceeded},
	codes.Canceled:           {context.Canceled},
	codes.ResourceExhausted:  {persistence.ErrCapacity},
	codes.Unimplemented:      {persistence.ErrUnsupported},
	codes.DataLoss:           {persistence.ErrCorrupt},
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
	return errors.Is(err, persistence.ErrFenced) || errors.Is(err, persistence.ErrNotFound) ||
		errors.Is(err, persistence.ErrInvalidArgument) || errors.Is(err, persistence.ErrUnsupported)
}

// invalid builds a client-side argument error naming the field; it wraps
// persistence.ErrInvalidArgument like the server's own.
func invalid(field, format string, args ...any) error {
	return fmt.Errorf("orbit client: %s: %s: %w", field, fmt.Sprintf(format, args...), persistence.ErrInvalidArgument)
}

// malformed builds an ErrBadResponse naming the response field.
func malformed(field, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrBadResponse, field, fmt.Sprintf(format, args...))
}
