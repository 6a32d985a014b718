package server

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/orbit-go/orbit"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Every sentinel maps to the code the API documents, and a backend failure
// whose chain also holds a cancelled dial or a timeout is not reported as
// a cancellation by the caller.
func TestToStatusCodes(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want codes.Code
	}{
		{"invalid", fmt.Errorf("key: %w", orbit.ErrInvalidArgument), codes.InvalidArgument},
		{"not found", fmt.Errorf("get: %w", orbit.ErrNotFound), codes.NotFound},
		{"fenced", fmt.Errorf("renew: %w", orbit.ErrFenced), codes.FailedPrecondition},
		{"conflict", &orbit.LeaseConflictError{}, codes.Aborted},
		{"capacity", fmt.Errorf("put: %w", orbit.ErrCapacity), codes.ResourceExhausted},
		{"unsupported", fmt.Errorf("watch: %w", orbit.ErrUnsupported), codes.Unimplemented},
		{"corrupt", fmt.Errorf("decode: %w", orbit.ErrCorrupt), codes.DataLoss},
		{"unavailable", fmt.Errorf("dial: %w", orbit.ErrUnavailable), codes.Unavailable},
		{"closed", fmt.Errorf("get: %w", orbit.ErrClosed), codes.Unavailable},
		{"backend error keeping a cancelled dial", fmt.Errorf("dial tcp 127.0.0.1:1: operation was canceled: %w: %w", context.Canceled, orbit.ErrUnavailable), codes.Unavailable},
		{"backend timeout", fmt.Errorf("get: %w: %w", context.DeadlineExceeded, orbit.ErrUnavailable), codes.DeadlineExceeded},
		{"caller cancelled", fmt.Errorf("get: %w", context.Canceled), codes.Canceled},
		{"unknown", errors.New("boom"), codes.Internal},
		{"a status passes through", status.Error(codes.PermissionDenied, "no"), codes.PermissionDenied},
	}
	for _, tc := range cases {
		if got := status.Code(toStatus(tc.err)); got != tc.want {
			t.Errorf("%s: %v -> %s, want %s", tc.name, tc.err, got, tc.want)
		}
	}
	if toStatus(nil) != nil {
		t.Error("toStatus(nil) != nil")
	}
}
