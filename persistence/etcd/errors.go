package etcd

import (
	"context"
	"errors"
	"fmt"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/orbit-go/orbit/persistence/driver"
)

// wrap classifies err (from a request of operation op on the driver key
// key) into a portable sentinel and adds the endpoints and the key. The
// result also wraps err, so that errors.Is sees context.DeadlineExceeded
// and the etcd error. Messages never contain credentials: etcd errors carry
// none, and the endpoints are rendered without userinfo.
func (s *Store) wrap(op, key string, err error) error {
	if s.closed.Load() {
		return fmt.Errorf("etcd %s: %s %q: %w", s.eps, op, key, driver.ErrClosed)
	}
	sentinel := classify(err)
	hint := ""
	if isPermission(err) {
		hint = " (check the etcd user's role: it needs readwrite on the prefix range, see docs/etcd.md)"
	}
	return fmt.Errorf("etcd %s: %s %q: %w%s: %w", s.eps, op, key, err, hint, sentinel)
}

// classify maps an error of the etcd client to a portable sentinel:
//
//   - timeouts, cancellations, unreachable endpoints, no leader, lost
//     quorum, authentication and permission failures → ErrUnavailable;
//   - too many operations in one transaction, a request too large,
//     duplicate keys → ErrInvalidArgument;
//   - the cluster's space quota is exhausted (NOSPACE alarm) → ErrCapacity.
//
// Anything else is reported as ErrUnavailable: the request did not succeed
// and retrying may help.
func classify(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return driver.ErrUnavailable
	case errors.Is(err, clientv3.ErrNoAvailableEndpoints):
		return driver.ErrUnavailable
	}
	var ee rpctypes.EtcdError
	if errors.As(rpctypes.Error(err), &ee) {
		switch ee {
		case rpctypes.ErrTooManyOps, rpctypes.ErrRequestTooLarge, rpctypes.ErrDuplicateKey, rpctypes.ErrEmptyKey,
			rpctypes.ErrInvalidSortOption, rpctypes.ErrLeaseTTLTooLarge:
			return driver.ErrInvalidArgument
		case rpctypes.ErrNoSpace:
			return driver.ErrCapacity
		}
		return driver.ErrUnavailable
	}
	if st, ok := status.FromError(err); ok {
		switch st.Code() {
		case codes.InvalidArgument, codes.OutOfRange:
			return driver.ErrInvalidArgument
		case codes.ResourceExhausted:
			if st.Message() == rpctypes.ErrNoSpace.Error() {
				return driver.ErrCapacity
			}
		}
	}
	return driver.ErrUnavailable
}

func isPermission(err error) bool {
	var ee rpctypes.EtcdError
	if !errors.As(rpctypes.Error(err), &ee) {
		return false
	}
	switch ee {
	case rpctypes.ErrPermissionDenied, rpctypes.ErrAuthFailed, rpctypes.ErrUserEmpty, rpctypes.ErrInvalidAuthToken,
		rpctypes.ErrPermissionNotGranted, rpctypes.ErrRoleNotGranted:
		return true
	}
	return false
}

func isLeaseNotFound(err error) bool {
	var ee rpctypes.EtcdError
	return errors.As(rpctypes.Error(err), &ee) && ee == rpctypes.ErrLeaseNotFound
}

func isCanceled(err error) bool {
	if errors.Is(err, context.Canceled) {
		return true
	}
	st, ok := status.FromError(err)
	return ok && st.Code() == codes.Canceled
}
