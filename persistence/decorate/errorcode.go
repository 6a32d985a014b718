package decorate

import (
	"errors"

	"github.com/orbit-go/orbit/persistence/driver"
)

var errorCodes = []struct {
	err  error
	code string
}{
	{driver.ErrNotFound, "not_found"}, {driver.ErrConflict, "conflict"}, {driver.ErrFenced, "fenced"},
	{driver.ErrInvalidArgument, "invalid_argument"}, {driver.ErrUnavailable, "unavailable"},
	{driver.ErrUnsupported, "unsupported"}, {driver.ErrCapacity, "capacity"}, {driver.ErrClosed, "closed"},
	{driver.ErrCorrupt, "corrupt"},
}

// ErrorCode returns the portable code of err ("" for nil, "unknown" if unclassified).
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	for _, c := range errorCodes {
		if errors.Is(err, c.err) {
			return c.code
		}
	}
	return "unknown"
}

// failureCodes are the codes counted as errors: every portable code but
// the outcomes not_found and conflict, and "unknown".
func failureCodes() []string {
	codes := make([]string, 0, len(errorCodes))
	for _, c := range errorCodes {
		if c.code != "not_found" && c.code != "conflict" {
			codes = append(codes, c.code)
		}
	}
	return append(codes, "unknown")
}
