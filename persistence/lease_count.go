package persistence

import (
	"context"
	"fmt"
)

// LeaseCounter is implemented by addressable directories that count their
// lease records without reading them: those of NewProvider over a driver
// with the count capability (driver.Counter). See CountLeases.
type LeaseCounter interface {
	// CountLeases returns how many lease records namespace has ("" = every
	// namespace); see CountLeases for what is counted.
	CountLeases(ctx context.Context, namespace string) (int64, error)
}

// CountLeases returns how many lease records of namespace ("" = every
// namespace) d stores, from the backend's own count (driver.Counter: one
// request whatever the number of leases, no record read). It answers an
// error that Is ErrUnsupported when d's backend has no cheap count: a
// listing would read every record, which a gauge refreshed in the
// background must not do.
//
// What is counted is lease records, not live leases: a lease that expired
// or was released (Release, Remove) keeps its record, as the fencing of
// epochs needs, until the cleanup sweep (CleanupExpired) removes it after
// the epoch grace; until then it is counted. Per-node index entries and
// node records are never counted.
func CountLeases(ctx context.Context, d AddressableDirectory, namespace string) (int64, error) {
	c, ok := d.(LeaseCounter)
	if !ok {
		return 0, fmt.Errorf("count leases of namespace %q: directory %T cannot count: %w", namespace, d, ErrUnsupported)
	}
	return c.CountLeases(ctx, namespace)
}

var _ LeaseCounter = (*addressables)(nil)

// CountLeases implements LeaseCounter with the driver's count of the
// namespace's lease key prefix (one operation, measured as a list).
func (a *addressables) CountLeases(ctx context.Context, namespace string) (int64, error) {
	if namespace != "" {
		if err := checkIdent("namespace", namespace, MaxNamespaceLen); err != nil {
			return 0, err
		}
	}
	if !a.kv.store.HasCounter() {
		return 0, fmt.Errorf("count leases of namespace %q: the backend has no cheap count: %w", namespace, ErrUnsupported)
	}
	n, err := a.kv.store.CountPrefix(ctx, leaseNamespacePrefix(namespace))
	if err != nil {
		return 0, fmt.Errorf("count leases of namespace %q: %w", namespace, err)
	}
	return n, nil
}
