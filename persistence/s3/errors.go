package s3

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/orbit-go/orbit/persistence/driver"
)

// transientCodes are error codes the SDK retries besides its own
// (throttling, 5xx, connection errors).
//
// ExistingObjectIsDirectory: versitygw's posix backend removes a key's
// directory when its last object is deleted, so a PutObject that made the
// directory just before the deletion fails to link its object there and
// answers this 409 although nothing is in the way (measured: 1 of 8,000
// creations racing deletions in one directory). Orbit's object names are
// never a prefix of one another (see objstore's names), so the code never
// means a real directory here, and a resend, conditional like the first
// attempt, is safe.
var transientCodes = []string{"ExistingObjectIsDirectory"}

// classify maps an SDK error onto the driver sentinels, with a message that
// names the operation, the object, the endpoint and the bucket. SDK errors
// carry no credentials; the request signature is never part of them.
func (b *bucket) classify(op, name string, err error) error {
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("%s: %s %q: %w", b.describe, op, name, err)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		// The caller's deadline, or the per-attempt HTTP timeout (which
		// also reads as DeadlineExceeded): either way the service did not
		// answer in time.
		return fmt.Errorf("%s: %s %q: %w: %w", b.describe, op, name, err, driver.ErrUnavailable)
	}
	code, status := "", 0
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code = ae.ErrorCode()
	}
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	var sentinel error
	hint := ""
	switch {
	case status == http.StatusPreconditionFailed || code == "PreconditionFailed",
		code == "ConditionalRequestConflict":
		sentinel = driver.ErrConflict
	case code == "NoSuchBucket" || name == "" && (status == http.StatusNotFound || code == "NotFound"):
		// HeadBucket's 404 has no body, so no NoSuchBucket code.
		sentinel, hint = driver.ErrUnavailable, "the bucket does not exist"
	case code == "NoSuchKey" || code == "NotFound" || status == http.StatusNotFound:
		sentinel = driver.ErrNotFound
	case status == http.StatusForbidden || status == http.StatusUnauthorized ||
		code == "AccessDenied" || code == "InvalidAccessKeyId" || code == "SignatureDoesNotMatch":
		sentinel, hint = driver.ErrUnavailable, "access denied: check the credentials and the bucket policy"
	case code == "KeyTooLongError" || code == "InvalidArgument" || status == http.StatusBadRequest:
		sentinel = driver.ErrInvalidArgument
	default:
		sentinel = driver.ErrUnavailable
	}
	target := ""
	if name != "" {
		target = fmt.Sprintf(" %q", name)
	}
	if hint != "" {
		return fmt.Errorf("%s: %s%s: %s: %w: %w", b.describe, op, target, hint, err, sentinel)
	}
	return fmt.Errorf("%s: %s%s: %w: %w", b.describe, op, target, err, sentinel)
}
