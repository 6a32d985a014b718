package flash

import (
	"errors"
	"fmt"
	"strings"
	"syscall"

	"github.com/orbit-go/orbit/persistence/driver"
)

// ErrPathInUse is returned by Open when a path's Pebble database is locked
// by another process (or another store of this process): two servers on one
// directory would each take the other's writes for their own. It wraps
// driver.ErrConflict, so it is not retried as an unavailable backend is.
var ErrPathInUse = fmt.Errorf("path in use by another process: %w", driver.ErrConflict)

// lockHeld tells Pebble's refusal to lock a database directory: the
// fcntl lock of its LOCK file held by another process (EAGAIN or EACCES),
// or by this one (Pebble checks its own table first and says so).
func lockHeld(err error) bool {
	return errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EACCES) ||
		strings.Contains(err.Error(), "lock held by current process")
}
