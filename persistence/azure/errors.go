package azure

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/orbit-go/orbit/persistence/driver"
)

// accessHint is the hint of an authorization failure.
const accessHint = "access denied: check the credentials and that they grant Storage Blob Data Contributor (or a SAS with rwdlac) on the container"

// classify maps an SDK error onto the driver sentinels, with a message that
// names the operation, the object, the endpoint and the container. The
// message never carries a secret: service errors are reduced to their
// status, code and message (the SDK's own text omits the URL's query, but
// transport errors carry the whole URL, SAS included), and every configured
// secret is scrubbed from what remains.
func (b *bucket) classify(ctx context.Context, op, name string, err error) error {
	target := ""
	if name != "" {
		target = fmt.Sprintf(" %q", name)
	}
	if ctx.Err() != nil {
		// The caller's own deadline or cancellation, not the server's fault.
		return fmt.Errorf("%s: %s%s: %w", b.describe, op, target, ctx.Err())
	}
	code, status := "", 0
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		code, status = re.ErrorCode, re.StatusCode
		err = &serviceError{status: status, code: code, message: serviceMessage(re), cause: re}
	} else {
		err = b.clean(err)
	}
	var sentinel error
	hint := ""
	switch {
	case code == "BlobAlreadyExists" || code == "ConditionNotMet" || status == http.StatusPreconditionFailed:
		sentinel = driver.ErrConflict
	case code == "ContainerNotFound" || name == "" && status == http.StatusNotFound:
		// Get Container Properties is a HEAD: its code comes from the
		// x-ms-error-code header, which proxies may drop.
		sentinel, hint = driver.ErrUnavailable, "the container does not exist"
	case code == "BlobNotFound" || status == http.StatusNotFound:
		sentinel = driver.ErrNotFound
	case status == http.StatusForbidden || status == http.StatusUnauthorized ||
		strings.HasPrefix(code, "Authentication") || strings.HasPrefix(code, "Authorization") ||
		code == "InsufficientAccountPermissions" || code == "AccountIsDisabled":
		sentinel, hint = driver.ErrUnavailable, accessHint
	case status == http.StatusBadRequest || code == "InvalidResourceName" || code == "OutOfRangeInput":
		sentinel = driver.ErrInvalidArgument
	case isAuthFailure(err):
		sentinel, hint = driver.ErrUnavailable, "no Microsoft Entra ID token: check the identity (DefaultAzureCredential: environment, workload identity, managed identity, Azure CLI)"
	default:
		sentinel = driver.ErrUnavailable
	}
	if hint != "" {
		return fmt.Errorf("%s: %s%s: %s: %w: %w", b.describe, op, target, hint, err, sentinel)
	}
	return fmt.Errorf("%s: %s%s: %w: %w", b.describe, op, target, err, sentinel)
}

// isAuthFailure reports whether err is azidentity's: a credential that
// could not get a token.
func isAuthFailure(err error) bool {
	var af *azidentity.AuthenticationFailedError
	return errors.As(err, &af) || strings.Contains(err.Error(), "failed to acquire a token")
}

// serviceError is a service's error response reduced to one line.
type serviceError struct {
	status  int
	code    string
	message string
	cause   *azcore.ResponseError
}

func (e *serviceError) Error() string {
	s := fmt.Sprintf("HTTP %d", e.status)
	if e.code != "" {
		s += " " + e.code
	}
	if e.message != "" {
		s += ": " + e.message
	}
	return s
}

// Unwrap returns the SDK's error (whose text names the request's method,
// host and path, never its query).
func (e *serviceError) Unwrap() error { return e.cause }

// serviceMessage returns the first line of the Message of an error
// response's body (none for HEAD requests). AuthenticationErrorDetail is
// left out: it quotes the request's signature.
func serviceMessage(re *azcore.ResponseError) string {
	if re.RawResponse == nil {
		return ""
	}
	body, err := runtime.Payload(re.RawResponse)
	if err != nil || len(body) == 0 {
		return ""
	}
	var doc struct {
		Message string `xml:"Message"`
	}
	if xml.Unmarshal(body, &doc) != nil {
		return ""
	}
	msg, _, _ := strings.Cut(strings.TrimSpace(doc.Message), "\n")
	return strings.TrimSpace(msg)
}

// clean returns err with the query of a failed request's URL removed (a
// SAS travels there) and without any configured secret in its text.
func (b *bucket) clean(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = &url.Error{Op: ue.Op, URL: publicURL(ue.URL), Err: ue.Err}
	}
	if msg := err.Error(); b.scrub(msg) != msg {
		return errors.New(b.scrub(msg))
	}
	return err
}

// scrub replaces every configured secret in s.
func (b *bucket) scrub(s string) string {
	for _, secret := range b.secrets {
		if len(secret) >= 8 {
			s = strings.ReplaceAll(s, secret, "REDACTED")
		}
	}
	return s
}

// sasSecrets returns the SAS token and its signature, raw and decoded.
func sasSecrets(sas string) []string {
	out := []string{sas}
	if q, err := url.ParseQuery(sas); err == nil {
		if sig := q.Get("sig"); sig != "" {
			out = append(out, sig, url.QueryEscape(sig))
		}
	}
	return out
}

// connectionStringSecrets returns the connection string and the account key
// or SAS it holds.
func connectionStringSecrets(cs string) []string {
	out := []string{cs}
	for _, part := range strings.Split(cs, ";") {
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			continue
		}
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "accountkey":
			out = append(out, v)
		case "sharedaccesssignature":
			out = append(out, sasSecrets(strings.TrimPrefix(v, "?"))...)
		}
	}
	return out
}
