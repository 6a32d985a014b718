package persistence

import (
	"fmt"

	"github.com/orbit-go/orbit"
)

// The portable error codes of package orbit, under the same names. Test them
// with errors.Is; every error the persistence layer returns wraps one of them.
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
	// ErrNotAvailableInBuild: the configuration names a provider type whose
	// driver is not compiled into this binary. It Is ErrUnsupported too.
	ErrNotAvailableInBuild = fmt.Errorf("provider type not available in this build: %w", orbit.ErrUnsupported)
)

// invalid builds an ErrInvalidArgument that names the field.
func invalid(field, format string, args ...any) error {
	return orbit.InvalidArgument(field, format, args...)
}
