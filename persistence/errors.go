package persistence

import (
	"fmt"

	"github.com/orbit-go/orbit/persistence/driver"
)

// The portable error codes, shared with package driver. Test them with
// errors.Is; every error the persistence layer returns wraps one of them.
var (
	ErrNotFound        = driver.ErrNotFound
	ErrConflict        = driver.ErrConflict
	ErrFenced          = driver.ErrFenced
	ErrInvalidArgument = driver.ErrInvalidArgument
	ErrUnavailable     = driver.ErrUnavailable
	ErrUnsupported     = driver.ErrUnsupported
	ErrCapacity        = driver.ErrCapacity
	ErrClosed          = driver.ErrClosed
	ErrCorrupt         = driver.ErrCorrupt
	// ErrNotAvailableInBuild: the configuration names a provider type whose
	// driver is not compiled into this binary. It Is ErrUnsupported too.
	ErrNotAvailableInBuild = fmt.Errorf("provider type not available in this build: %w", driver.ErrUnsupported)
)

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

// invalid builds an ErrInvalidArgument that names the field.
func invalid(field, format string, args ...any) error {
	return fmt.Errorf("%s: %s: %w", field, fmt.Sprintf(format, args...), ErrInvalidArgument)
}
