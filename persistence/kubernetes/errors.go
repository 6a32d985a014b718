package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/orbit-go/orbit/persistence/driver"
)

// sentinels are the portable codes; an error that already wraps one is
// passed through by wrap.
var sentinels = []error{driver.ErrNotFound, driver.ErrConflict, driver.ErrInvalidArgument, driver.ErrUnavailable,
	driver.ErrCapacity, driver.ErrClosed, driver.ErrCorrupt, driver.ErrUnsupported}

// wrap classifies err, from the API request verb on the configmap object
// (a name, or "" for a collection), into a portable sentinel, with the
// namespace and object in the message. The result also wraps err, so that
// errors.Is sees context.DeadlineExceeded and apierrors still classify it.
// API errors carry no credentials, and the driver adds none.
func (s *Store) wrap(err error, verb, object string) error {
	if s.closed.Load() {
		return fmt.Errorf("kubernetes %s: %s: %w", s.where, verb, driver.ErrClosed)
	}
	for _, se := range sentinels {
		if errors.Is(err, se) {
			return err
		}
	}
	what := "configmaps"
	if object != "" {
		what = "configmap " + object
	}
	switch {
	case apierrors.IsForbidden(err):
		return fmt.Errorf("kubernetes: %s: forbidden: this identity may not %s %s in namespace %s"+
			" (grant it in the Role, see deploy/kubernetes/role.yaml): %w: %w",
			verbResource(verb), verb, configMapsResource, s.opts.Namespace, err, driver.ErrUnavailable)
	case apierrors.IsUnauthorized(err):
		return fmt.Errorf("kubernetes %s: %s %s: unauthorized (check the credentials of the kubeconfig or service account): %w: %w",
			s.where, verb, what, err, driver.ErrUnavailable)
	case apierrors.IsNotFound(err) && isNamespaceNotFound(err):
		return fmt.Errorf("kubernetes: %s %s: namespace %s does not exist (create it first): %w: %w",
			verb, what, s.opts.Namespace, err, driver.ErrUnavailable)
	}
	return fmt.Errorf("kubernetes %s: %s %s: %w: %w", s.where, verb, what, err, classify(err))
}

// verbResource renders "verb configmaps" for messages.
func verbResource(verb string) string { return verb + " " + configMapsResource }

// classify maps an error of client-go to a portable sentinel:
//
//   - a request or object too large (413, the 1 MiB limit of a
//     ConfigMap, etcd's request limit) → ErrCapacity;
//   - an invalid object otherwise → ErrInvalidArgument;
//   - timeouts, cancellations, throttling, refused connections, server
//     errors, forbidden and unauthorized requests → ErrUnavailable;
//   - not found → ErrNotFound.
//
// Anything else is reported as ErrUnavailable: the request did not succeed
// and retrying may help.
func classify(err error) error {
	switch {
	case err == nil:
		return nil
	case isTooLarge(err):
		return driver.ErrCapacity
	case apierrors.IsInvalid(err), apierrors.IsBadRequest(err):
		return driver.ErrInvalidArgument
	case apierrors.IsNotFound(err):
		return driver.ErrNotFound
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return driver.ErrUnavailable
	}
	return driver.ErrUnavailable
}

// isTooLarge reports the API server's and etcd's size limits.
func isTooLarge(err error) bool {
	if apierrors.IsRequestEntityTooLargeError(err) {
		return true
	}
	msg := err.Error()
	if apierrors.IsInvalid(err) && (strings.Contains(msg, "Too long") || strings.Contains(msg, "must have at most")) {
		return true
	}
	return strings.Contains(msg, "request is too large") || strings.Contains(msg, "too large")
}

// isNamespaceNotFound reports a NotFound about the namespace itself.
func isNamespaceNotFound(err error) bool {
	var se apierrors.APIStatus
	if !errors.As(err, &se) {
		return false
	}
	d := se.Status().Details
	return d != nil && d.Kind == "namespaces"
}
