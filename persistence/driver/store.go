// Package driver is the small contract that every Orbit storage backend
// implements: a versioned key-value store with conditional writes.
//
// The lease logic (expiry, fencing epochs, per-node indexes, bulk operations,
// cleanup, metrics) is written once in package persistence on top of this
// contract, so that a backend package only maps its native operations and
// errors. Everything a backend does natively and better (multi-key
// transactions, change streams) is an optional interface, discovered by type
// assertion; see Capabilities.
//
// Contract for every method:
//   - keys are non-empty, valid UTF-8, at most MaxKeyLen bytes, and never
//     contain a NUL byte; drivers may rely on this;
//   - a key passed to Get may live in a buffer the caller reuses after the
//     call: a driver must not retain it (Entry.Key of the result may alias
//     it; callers do not keep that either);
//   - values passed to Put are owned by the driver afterwards; values
//     returned by Get and List are immutable: neither the caller nor the
//     driver modifies them afterwards (the lease logic aliases them);
//   - errors are classified with the sentinels of errors.go (errors.Is);
//   - all methods are safe for concurrent use.
package driver

import (
	"context"
	"strconv"
	"time"
)

// MaxKeyLen is the longest key the lease logic ever writes.
const MaxKeyLen = 1024

// Version identifies one write of one key. It is opaque to callers: numeric
// for backends with revisions (etcd mod_revision, GCS generation, a counter)
// and textual for backends with entity tags (S3, Azure ETags, Kubernetes
// resourceVersion). The zero Version means "no version" (the key is absent).
type Version struct {
	num uint64
	tag string
}

// NumVersion returns a numeric version; n must be non-zero.
func NumVersion(n uint64) Version { return Version{num: n} }

// TagVersion returns a textual version; tag must be non-empty.
func TagVersion(tag string) Version { return Version{tag: tag} }

// Num returns the numeric form (0 for a textual version).
func (v Version) Num() uint64 { return v.num }

// Tag returns the textual form ("" for a numeric version).
func (v Version) Tag() string { return v.tag }

// IsZero reports whether v is the zero Version.
func (v Version) IsZero() bool { return v.num == 0 && v.tag == "" }

// String renders the version for logs.
func (v Version) String() string {
	if v.tag != "" {
		return v.tag
	}
	return strconv.FormatUint(v.num, 10)
}

// Entry is one stored key with its value and current version.
type Entry struct {
	Key     string
	Value   []byte
	Version Version
}

// ConditionKind says what must hold for a conditional write to apply.
type ConditionKind uint8

const (
	// Always applies the write unconditionally.
	Always ConditionKind = iota
	// IfAbsent applies only if the key does not exist (create-only).
	IfAbsent
	// IfVersion applies only if the key exists with exactly Condition.Version.
	IfVersion
)

// Condition guards a Put or Delete. A failed condition returns an error that
// Is ErrConflict and leaves the store unchanged.
type Condition struct {
	Kind    ConditionKind
	Version Version
}

// Unconditional, CreateOnly and MatchVersion build the three conditions.
func Unconditional() Condition         { return Condition{Kind: Always} }
func CreateOnly() Condition            { return Condition{Kind: IfAbsent} }
func MatchVersion(v Version) Condition { return Condition{Kind: IfVersion, Version: v} }
func (c Condition) String() string {
	switch c.Kind {
	case IfAbsent:
		return "if-absent"
	case IfVersion:
		return "if-version=" + c.Version.String()
	default:
		return "always"
	}
}

// ListOptions selects one page of a prefix listing. Keys are returned in
// ascending byte order, strictly after StartAfter when it is set.
type ListOptions struct {
	StartAfter string
	// Limit is the most entries to return; the driver may return fewer
	// (never zero while more remain). 0 means the driver's default page size.
	Limit int
}

// ListPage is one page of a listing. More is true when entries after the last
// one returned may exist; the caller continues with StartAfter set to the key
// of the last entry.
type ListPage struct {
	Entries []Entry
	More    bool
}

// Store is the contract every backend implements.
type Store interface {
	// Get returns the entry for key, or an error that Is ErrNotFound.
	Get(ctx context.Context, key string) (Entry, error)
	// Put writes value under key if cond holds and returns the new version.
	Put(ctx context.Context, key string, value []byte, cond Condition) (Version, error)
	// Delete removes key if cond holds. Deleting an absent key with the
	// Always condition succeeds; with IfVersion it is a conflict.
	Delete(ctx context.Context, key string, cond Condition) error
	// List returns the keys with the given prefix, in order, one page at a time.
	List(ctx context.Context, prefix string, opts ListOptions) (ListPage, error)
	// Close releases the store's resources. Calls after Close return ErrClosed.
	Close(ctx context.Context) error
}

// OpKind is the kind of one operation of a transaction.
type OpKind uint8

const (
	// OpPut writes Op.Value under Op.Key.
	OpPut OpKind = iota + 1
	// OpDelete removes Op.Key.
	OpDelete
	// OpCheck only asserts Op.Cond on Op.Key (a read in an optimistic transaction).
	OpCheck
)

// Op is one operation of a multi-key transaction.
type Op struct {
	Kind  OpKind
	Key   string
	Value []byte
	Cond  Condition
	// Label and ExpireAt are PutOptions of an OpPut, for drivers with
	// the index or TTL capability; other drivers ignore them.
	Label    string
	ExpireAt time.Time
}

// Transactional is implemented by backends that apply several conditional
// operations atomically: either every condition holds and every operation is
// applied, or nothing is applied and the error Is ErrConflict. A key appears
// at most once in one transaction.
type Transactional interface {
	Txn(ctx context.Context, ops []Op) ([]Version, error)
	// MaxTxnOps is the most operations one Txn accepts (etcd's limit, for example).
	MaxTxnOps() int
}

// OpResult is the outcome of one operation of Batcher.ApplyMany: the new
// version of an applied put, or an error that Is ErrConflict when the
// operation's condition did not hold (the operation was not applied).
type OpResult struct {
	Version Version
	Err     error
}

// Batcher is implemented by backends that send many independent operations
// in one round trip (a pipeline, a batch script), for bulk operations.
// Unlike Txn, each operation is applied or fails on its own, in order; a
// key appears at most once in one call.
type Batcher interface {
	// GetMany returns one entry per key, in order; an absent key has the
	// zero Version and a nil Value.
	GetMany(ctx context.Context, keys []string) ([]Entry, error)
	// ApplyMany applies OpPut and OpDelete operations (with their
	// conditions and PutOptions fields) and returns one result per op. A
	// non-nil error means the call as a whole failed: some operations may
	// have been applied, as after a lost reply.
	ApplyMany(ctx context.Context, ops []Op) ([]OpResult, error)
}

// PutOptions carry what optional capabilities add to a write. Options of a
// capability the driver does not have are ignored.
type PutOptions struct {
	// Label is the entry's index label (Indexer); "" = in no index.
	Label string
	// ExpireAt lets the backend delete the entry natively once this time
	// has passed (Expirer), and files the entry by that time (ExpiryLister);
	// zero = never. The lease logic sets it well after the record stops
	// mattering (expiry plus the epoch grace), so native deletion is only
	// garbage collection, never a correctness mechanism.
	ExpireAt time.Time
}

// OptionPutter is Put with options; drivers with the index or TTL
// capability implement it.
type OptionPutter interface {
	PutWithOptions(ctx context.Context, key string, value []byte, cond Condition, opts PutOptions) (Version, error)
}

// Indexer is implemented by backends that keep a secondary index natively
// and atomically with the entries: every entry carries at most one label,
// and the entries of one label can be listed without scanning the others.
// The lease logic labels each lease record with its holder, so that listing
// a node's leases needs no separate index entries.
//
// Put and Txn OpPut without a label, and Delete, remove an entry from its
// index; PutWithOptions sets the label together with the value, under cond.
type Indexer interface {
	OptionPutter
	// ListIndex lists the entries labelled label, in key order, paginated
	// like List (StartAfter is a key).
	ListIndex(ctx context.Context, label string, opts ListOptions) (ListPage, error)
}

// Expirer is implemented by backends that delete entries natively after
// PutOptions.ExpireAt (etcd leases, Redis PX), so that dead records do
// not accumulate even if no server runs cleanup. A backend may delete an
// entry later than ExpireAt, never earlier.
type Expirer interface {
	OptionPutter
	// ExpiresEntries documents the capability; it has no effect.
	ExpiresEntries()
}

// ExpiryLister is implemented by backends that keep their entries filed by
// PutOptions.ExpireAt (natively, or in an index kept atomically with the
// entries), so that the entries due by a time are listed without reading the
// others. The lease logic's cleanup sweep uses it: its cost then follows how
// many records are dead, not how many are stored.
//
// Put and Txn OpPut without ExpireAt, and Delete, remove an entry from the
// filing; a write with another ExpireAt refiles it.
type ExpiryLister interface {
	OptionPutter
	// ListExpiring returns up to limit entries under prefix whose ExpireAt
	// is at or before before, roughly earliest first, never an entry
	// without an ExpireAt. It may also return entries whose ExpireAt is up
	// to ExpiryGranularity later (a backend that files by buckets). Fewer
	// than limit entries means it returned every entry due by before.
	//
	// There is no cursor: a caller that does not delete what it was given
	// gets it again. limit <= 0 means DefaultExpiringLimit.
	ListExpiring(ctx context.Context, prefix string, before time.Time, limit int) ([]Entry, error)
	// ExpiryGranularity is how much later than asked ListExpiring may
	// file an entry (0: exactly).
	ExpiryGranularity() time.Duration
}

// DefaultExpiringLimit is ListExpiring's limit when the caller gives none.
const DefaultExpiringLimit = 1000

// EventKind says what happened to a key.
type EventKind uint8

const (
	// EventPut: the key was created or replaced.
	EventPut EventKind = iota + 1
	// EventDelete: the key was removed.
	EventDelete
)

// Event is one change seen by a watch.
type Event struct {
	Kind  EventKind
	Entry Entry // for EventDelete only Key (and possibly Version) are set
}

// Watcher is implemented by backends that stream changes natively. The
// channel carries every change under prefix made after Watch returned, in
// the order the backend applied them to each key, and is closed when ctx
// ends or the store closes. A driver that cannot keep up (a consumer too
// slow, a compacted history it cannot resume from) closes the channel early;
// the caller then lists again and watches again.
type Watcher interface {
	Watch(ctx context.Context, prefix string) (<-chan Event, error)
}

// HealthStatus is the coarse state a health check reports.
type HealthStatus uint8

const (
	// Healthy: the backend operates normally.
	Healthy HealthStatus = iota
	// Degraded: the backend operates with reduced performance or redundancy.
	Degraded
	// Unhealthy: the backend is not operational.
	Unhealthy
)

func (s HealthStatus) String() string {
	switch s {
	case Healthy:
		return "Healthy"
	case Degraded:
		return "Degraded"
	default:
		return "Unhealthy"
	}
}

// Health is the result of a health check. Reason is empty when Healthy.
type Health struct {
	Status HealthStatus
	Reason string
}

// HealthChecker is implemented by backends that know better than a probe
// read whether they are healthy (a quorum, a capacity limit, a failing path).
type HealthChecker interface {
	HealthCheck(ctx context.Context) Health
}

// InProcess is implemented by backends whose reads cost no round trip (the
// memory provider). The lease logic then reads before every compare-and-swap
// instead of keeping its cache of the versions it wrote. It is a property,
// not a capability: nothing to test.
type InProcess interface {
	InProcess()
}

// CacheStatser is implemented by backends that keep a read cache.
type CacheStatser interface {
	CacheStats() (hits, misses uint64)
}
