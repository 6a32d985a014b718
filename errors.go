package orbit

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// The portable error codes. Storage drivers classify their native errors
// into these, the server maps them to gRPC codes and the client maps gRPC
// codes back, so that callers test them with errors.Is wherever the error
// came from. An error wraps a sentinel with context, for example:
//
//	fmt.Errorf("redis %s: GET %q: %w", addr, key, orbit.ErrUnavailable)
var (
	// ErrNotFound: the key, lease or node does not exist (or has expired).
	ErrNotFound = errors.New("not found")
	// ErrConflict: a condition (create-only, version match) did not hold, or a
	// concurrent writer won a race.
	ErrConflict = errors.New("conflict")
	// ErrFenced: the caller presented a stale fencing epoch or challenge token.
	ErrFenced = errors.New("fenced: stale epoch or token")
	// ErrInvalidArgument: the input is malformed; the message names the field.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrUnavailable: the backend cannot be reached or timed out; retrying may help.
	ErrUnavailable = errors.New("backend unavailable")
	// ErrUnsupported: the backend does not offer the requested capability.
	ErrUnsupported = errors.New("unsupported by this backend")
	// ErrCapacity: a configured limit (max_entries, quota, size) was reached.
	ErrCapacity = errors.New("capacity exceeded")
	// ErrClosed: the store or provider has been closed.
	ErrClosed = errors.New("closed")
	// ErrCorrupt: stored data could not be decoded.
	ErrCorrupt = errors.New("corrupt data")
)

// InvalidArgument returns an error wrapping ErrInvalidArgument whose text
// starts with the field it concerns: "FIELD: MESSAGE: invalid argument".
func InvalidArgument(field, format string, args ...any) error {
	return fmt.Errorf("%s: %s: %w", field, fmt.Sprintf(format, args...), ErrInvalidArgument)
}

// LeaseConflictError is returned when an addressable is held by another node
// with an unexpired lease. It Is ErrConflict; Current is the winning lease.
type LeaseConflictError struct {
	Current AddressableLease
}

func (e *LeaseConflictError) Error() string {
	return fmt.Sprintf("addressable %s is held by node %s until %s (epoch %d): %v",
		e.Current.Reference, e.Current.Node, e.Current.ExpiresAt.UTC().Format("2006-01-02T15:04:05.000Z07:00"),
		e.Current.Epoch, ErrConflict)
}

// Unwrap makes errors.Is(err, ErrConflict) true.
func (e *LeaseConflictError) Unwrap() error { return ErrConflict }

// BulkError reports the items of a bulk operation that failed; the others
// were applied. Failures maps the item's index in the input to its error.
type BulkError struct {
	Total    int
	Failures map[int]error
}

// Error names the number of failures and the first three, in index order.
func (e *BulkError) Error() string {
	idx := slices.Sorted(maps.Keys(e.Failures))
	var b strings.Builder
	fmt.Fprintf(&b, "%d of %d bulk items failed", len(idx), e.Total)
	for n, i := range idx {
		if n == 3 {
			fmt.Fprintf(&b, "; and %d more", len(idx)-3)
			break
		}
		fmt.Fprintf(&b, "; item %d: %v", i, e.Failures[i])
	}
	return b.String()
}

// Unwrap returns the item errors, so errors.Is sees their codes.
func (e *BulkError) Unwrap() []error {
	return slices.Collect(maps.Values(e.Failures))
}
