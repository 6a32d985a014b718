package gcs

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"cloud.google.com/go/auth"
	"cloud.google.com/go/storage"
	"google.golang.org/api/googleapi"

	"github.com/orbit-go/orbit/persistence/driver"
)

// statusOf returns the HTTP status of a JSON or XML API error, or 0.
func statusOf(err error) int {
	var ge *googleapi.Error
	if errors.As(err, &ge) {
		return ge.Code
	}
	return 0
}

// classify maps a client error onto the driver sentinels, with a message
// that names the operation, the object, the endpoint and the bucket. The
// client's errors carry no credentials: the access token travels in a
// header, never in a URL or an error body.
func (b *bucket) classify(ctx context.Context, op, name string, err error) error {
	target := ""
	if name != "" {
		target = fmt.Sprintf(" %q", name)
	}
	if ctx.Err() != nil {
		// The caller gave up: its context's error, no sentinel (a
		// per-attempt timeout is a context error too, and is
		// ErrUnavailable below).
		return fmt.Errorf("%s: %s%s: %w", b.describe, op, target, err)
	}
	status := statusOf(err)
	var ae *auth.Error
	var sentinel error
	hint := ""
	switch {
	case status == http.StatusPreconditionFailed, status == http.StatusConflict:
		sentinel = driver.ErrConflict
	case errors.Is(err, storage.ErrBucketNotExist),
		status == http.StatusNotFound && (name == "" || op == "create"):
		// An insert into a missing bucket is a 404 too.
		sentinel, hint = driver.ErrUnavailable, "the bucket does not exist"
	case errors.Is(err, storage.ErrObjectNotExist), status == http.StatusNotFound:
		sentinel = driver.ErrNotFound
	case status == http.StatusUnauthorized, status == http.StatusForbidden:
		sentinel, hint = driver.ErrUnavailable, "access denied: check the credentials and their IAM roles on the bucket"
	case errors.As(err, &ae):
		sentinel, hint = driver.ErrUnavailable, "could not obtain an access token: check the credentials"
	case status == http.StatusBadRequest:
		sentinel = driver.ErrInvalidArgument
	case errors.Is(err, driver.ErrUnsupported):
		sentinel = driver.ErrUnsupported
	default:
		sentinel = driver.ErrUnavailable
	}
	if hint != "" {
		return fmt.Errorf("%s: %s%s: %s: %w: %w", b.describe, op, target, hint, err, sentinel)
	}
	return fmt.Errorf("%s: %s%s: %w: %w", b.describe, op, target, err, sentinel)
}
