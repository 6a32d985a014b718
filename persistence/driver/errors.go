package driver

import "errors"

// Portable error codes. Drivers classify their native errors into these, so
// that the lease logic and callers can test them with errors.Is whatever the
// backend. A driver wraps the sentinel with context, for example:
//
//	fmt.Errorf("redis %s: GET %q: %w", addr, key, driver.ErrUnavailable)
//
// The persistence package re-exports every sentinel under the same name.
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
