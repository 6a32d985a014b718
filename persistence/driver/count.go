package driver

import "context"

// Counter is implemented by backends that count the entries under a key
// prefix without reading them: from a size the backend keeps (a sorted
// set's cardinality, an order-statistics tree) or with a server-side count
// that sends no keys or values. The lease logic uses it for the gauge of
// leases per namespace, refreshed in the background; a backend that could
// only count by listing does not implement it (the gauge is then absent,
// rather than an O(n) listing on every refresh).
//
// CountPrefix counts what List(prefix) would return over all its pages
// (prefix "" = every entry), at one moment or, on a backend without
// snapshots, over a short interval during which concurrent writes may or
// may not be counted. A backend that deletes entries natively
// (driver.Expirer) may still count an entry past its ExpireAt until it is
// actually removed from the backend's indexes; it never counts an entry
// that was deleted before the call began.
type Counter interface {
	CountPrefix(ctx context.Context, prefix string) (int64, error)
}
