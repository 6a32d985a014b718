// Package persistence is Orbit's portable persistence API: the domain types
// (nodes, addressables, leases), the two directories the server keeps
// (cluster nodes and addressable leases), providers, their registry, health
// and metrics.
//
// The lease rules are written once here, over the small versioned key-value
// contract of package driver, so that every backend behaves identically:
//
//   - at no instant do two nodes hold unexpired leases for one addressable:
//     every decision is a conditional write (compare-and-swap) in the backend;
//   - every lease carries a fencing epoch that only grows for its reference;
//     only the holder presenting (node, epoch) may renew or release it;
//   - expired leases and nodes are invisible to reads and removed by cleanup.
//
// Backends live in their own packages and register a factory for their
// provider type (see RegisterDriver), database/sql style.
package persistence

import (
	"context"
	"iter"
	"time"

	"github.com/orbit-go/orbit/persistence/driver"
)

// AddressableDirectory stores which node hosts each addressable, as leases.
//
// All methods validate their input (errors name the field and wrap
// ErrInvalidArgument) and are safe for concurrent use. Expiry is judged by
// the directory's clock: an expired lease behaves as absent.
type AddressableDirectory interface {
	// Place makes node the holder of ref for ttl if ref has no unexpired
	// lease, atomically, and returns the new lease with a fresh epoch. If
	// another node holds an unexpired lease, Place returns that lease and a
	// *LeaseConflictError (errors.Is(err, ErrConflict)). If node itself
	// already holds it (in the same incarnation), Place returns the existing
	// lease and no error. With OfIncarnation the lease is granted to that
	// incarnation of node.
	Place(ctx context.Context, ref AddressableReference, node NodeID, ttl time.Duration, opts ...LeaseOption) (AddressableLease, error)
	// Takeover replaces the lease held by (from, fromEpoch) with a new
	// lease for node to, whether or not the old one has expired: for a
	// holder the caller has established is gone (its node lease expired or
	// it left the cluster). Compare-and-swap: if the record is no longer at
	// (from, fromEpoch) it returns the current lease with a
	// *LeaseConflictError when another node holds it unexpired, else ErrFenced.
	// With OfIncarnation the new lease is granted to that incarnation of to.
	Takeover(ctx context.Context, ref AddressableReference, from NodeID, fromEpoch uint64, to NodeID, ttl time.Duration, opts ...LeaseOption) (AddressableLease, error)
	// Get returns the unexpired lease of ref, or ErrNotFound.
	Get(ctx context.Context, ref AddressableReference) (AddressableLease, error)
	// GetMany returns the unexpired leases of refs, one per reference in
	// order; a reference without one gets the zero AddressableLease
	// (Epoch 0). One round trip per 1,000 references on backends with the
	// batch capability. An invalid reference fails the call, naming its
	// index (refs[i]).
	GetMany(ctx context.Context, refs []AddressableReference) ([]AddressableLease, error)
	// Renew extends the lease to now+ttl; only the holder presenting its
	// epoch may: otherwise ErrFenced (or ErrNotFound if there is no live lease).
	// With OfIncarnation, a lease granted to another incarnation of node is
	// ErrFenced too.
	Renew(ctx context.Context, ref AddressableReference, node NodeID, epoch uint64, ttl time.Duration, opts ...LeaseOption) (AddressableLease, error)
	// Release ends the lease now; only the holder presenting its epoch (and,
	// with OfIncarnation, its incarnation) may.
	Release(ctx context.Context, ref AddressableReference, node NodeID, epoch uint64, opts ...LeaseOption) error
	// Update is the compare-and-swap form of Renew: it replaces the stored
	// lease's RenewAt and ExpiresAt with lease's, if the stored lease is
	// unexpired and has lease's Node and Epoch (and NodeIncarnation, when
	// not 0); otherwise ErrFenced.
	Update(ctx context.Context, lease AddressableLease) (AddressableLease, error)
	// Store writes lease as given (migration, restore). It refuses, with
	// ErrFenced, to replace a stored lease of a higher epoch, or of the same
	// epoch on another node, so that epochs stay monotonic.
	Store(ctx context.Context, lease AddressableLease) error
	// StoreBulk stores many leases; the error is a *BulkError naming each failure.
	StoreBulk(ctx context.Context, leases []AddressableLease) error
	// Remove ends ref's lease whoever holds it (an administrative removal).
	// Removing an absent lease is not an error. The epoch is kept.
	Remove(ctx context.Context, ref AddressableReference) error
	// RemoveBulk removes many leases; the error is a *BulkError.
	RemoveBulk(ctx context.Context, refs []AddressableReference) error
	// ListByNode returns the unexpired leases held by node, one page at a time.
	ListByNode(ctx context.Context, node NodeID, page PageRequest) (LeasePage, error)
	// List returns every unexpired lease, in key order, one page at a time.
	List(ctx context.Context, page PageRequest) (LeasePage, error)
	// All iterates over every unexpired lease of namespace ("" = all).
	All(ctx context.Context, namespace string) iter.Seq2[AddressableLease, error]
	// CleanupExpired removes the records of leases that expired (or were
	// released) at least EpochGrace ago, and the index entries of expired
	// leases; it returns the number of lease records removed. A lease renewed
	// concurrently is never removed.
	CleanupExpired(ctx context.Context) (int, error)
}

// ClusterNodeDirectory stores the cluster's nodes and their leases.
//
// Challenge tokens are stored hashed (orbit.HashChallengeToken): what Get
// and the listings return is the digest; methods taking a token compare
// the clear token presented with NodeLease.TokenMatches.
type ClusterNodeDirectory interface {
	// Join adds node as a new incarnation of its ID, atomically: it creates
	// the record if there is none, replaces it if its lease has lapsed, and
	// refuses with ErrConflict if a live node holds the ID. The new record
	// gets an Incarnation different from the lapsed record's (random, never
	// 0), so leases granted to the previous life stay dead. It returns the
	// stored node with node's clear token (the caller hands it to the node).
	Join(ctx context.Context, node NodeInfo) (NodeInfo, error)
	// Store creates or replaces node as given (migration, restore).
	Store(ctx context.Context, node NodeInfo) error
	// Get returns the node if its lease is unexpired, else ErrNotFound.
	Get(ctx context.Context, id NodeID) (NodeInfo, error)
	// Update replaces the stored node if it is unexpired and node presents
	// its challenge token in clear (else ErrFenced); compare-and-swap. The
	// stored incarnation, owner and token are kept.
	Update(ctx context.Context, node NodeInfo) (NodeInfo, error)
	// Remove deletes the node. Removing an absent node is not an error.
	Remove(ctx context.Context, id NodeID) error
	// ListActive returns the unexpired nodes with status Active.
	ListActive(ctx context.Context, namespace string) ([]NodeInfo, error)
	// ListAll returns every unexpired node whatever its status.
	ListAll(ctx context.Context, namespace string) ([]NodeInfo, error)
	// CleanupExpired removes nodes whose lease expired; returns how many.
	CleanupExpired(ctx context.Context) (int, error)
	// RenewLease extends the node's lease to now+ttl (RenewAt now+ttl/6) if token matches its
	// challenge token (else ErrFenced) and it is unexpired (else ErrNotFound).
	// The returned lease carries token as presented.
	RenewLease(ctx context.Context, id NodeID, token string, ttl time.Duration) (NodeLease, error)
	// WatchNodes streams the changes of namespace's ("" = every namespace) node records from the
	// backend's native watch; ErrUnsupported without one (see NodeChange).
	WatchNodes(ctx context.Context, namespace string) (<-chan NodeChange, error)
}

// Transaction groups writes to both directories that commit atomically. It
// is optimistic: reads record the version they saw, and Commit fails with
// ErrConflict, applying nothing, if any key read or written changed since.
// A Transaction is not safe for concurrent use.
type Transaction interface {
	GetLease(ctx context.Context, ref AddressableReference) (AddressableLease, error)
	StoreLease(lease AddressableLease) error
	RemoveLease(ref AddressableReference) error
	GetNode(ctx context.Context, id NodeID) (NodeInfo, error)
	StoreNode(node NodeInfo) error
	RemoveNode(id NodeID) error
	Commit(ctx context.Context) error
	// Rollback discards the transaction; it is safe to call after Commit.
	Rollback() error
}

// Provider is one configured storage backend holding both directories.
type Provider interface {
	// Name is the provider's name in the configuration; Type its provider type.
	Name() string
	Type() string
	// Capabilities are the optional driver capabilities the backend offers.
	Capabilities() driver.Capabilities
	// Init checks that the backend is reachable; it is called by Open.
	Init(ctx context.Context) error
	// Close flushes (e.g. the memory provider's final backup) and releases
	// the backend. Later calls return ErrClosed.
	Close(ctx context.Context) error
	HealthCheck(ctx context.Context) Health
	Metrics() MetricsSnapshot
	// BeginTransaction starts a transaction; ErrUnsupported if the backend
	// has no multi-key transactions.
	BeginTransaction(ctx context.Context) (Transaction, error)
	Addressables() AddressableDirectory
	Nodes() ClusterNodeDirectory
}

// Health is a health check result: Healthy, Degraded(reason) or Unhealthy(reason).
type Health = driver.Health

// Health states.
const (
	Healthy   = driver.Healthy
	Degraded  = driver.Degraded
	Unhealthy = driver.Unhealthy
)
