package driver

import "github.com/orbit-go/orbit"

// Portable error codes (those of package orbit, under the same names).
// Drivers classify their native errors into these, so that the lease logic
// and callers can test them with errors.Is whatever the backend. A driver
// wraps the sentinel with context, for example:
//
//	fmt.Errorf("redis %s: GET %q: %w", addr, key, driver.ErrUnavailable)
var (
	ErrNotFound        = orbit.ErrNotFound
	ErrConflict        = orbit.ErrConflict
	ErrFenced          = orbit.ErrFenced
	ErrInvalidArgument = orbit.ErrInvalidArgument
	ErrUnavailable     = orbit.ErrUnavailable
	ErrUnsupported     = orbit.ErrUnsupported
	ErrCapacity        = orbit.ErrCapacity
	ErrClosed          = orbit.ErrClosed
	ErrCorrupt         = orbit.ErrCorrupt
)
