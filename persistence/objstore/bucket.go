package objstore

import (
	"context"
	"time"
)

// Bucket is what a storage service adapter implements: the five object
// operations the chain protocol needs, and nothing else. Adapters map
// their service's errors onto the driver sentinels (driver.ErrNotFound,
// driver.ErrConflict, driver.ErrUnavailable, ...), wrapped with context that
// names the endpoint and bucket but never a secret.
//
// Only Create has to be atomic: of concurrent Creates of one name, at most
// one succeeds, and a Create of a name that exists fails. Every other
// guarantee of the store is derived from that one (see the package
// documentation).
type Bucket interface {
	// Create stores body under name only if no object has that name (S3
	// If-None-Match: *, Azure If-None-Match: *, GCS ifGenerationMatch=0) and
	// returns the new object's entity tag. An existing name is an error that
	// Is driver.ErrConflict.
	Create(ctx context.Context, name string, body []byte) (etag string, err error)
	// Read returns the body and entity tag of name, or an error that Is
	// driver.ErrNotFound.
	Read(ctx context.Context, name string) (body []byte, etag string, err error)
	// Stat returns the entity tag of name (S3 HeadObject), or an error that
	// Is driver.ErrNotFound.
	Stat(ctx context.Context, name string) (etag string, err error)
	// Remove deletes name; removing an absent name is not an error.
	Remove(ctx context.Context, name string) error
	// List returns the objects whose names start with prefix and sort
	// strictly after startAfter (when not empty), in ascending byte order,
	// at most limit of them.
	List(ctx context.Context, prefix, startAfter string, limit int) (Listing, error)
	// Probe is a cheap request that succeeds when the bucket is reachable
	// with the configured credentials (S3 HeadBucket).
	Probe(ctx context.Context) error
	// Close releases the adapter's resources.
	Close() error
}

// Object is one listed object.
type Object struct {
	Name string
	// ETag is the entity tag, without quotes; it changes with every write.
	ETag string
	Size int64
	// Modified is the server's last-modified time.
	Modified time.Time
}

// Listing is one page of Bucket.List.
type Listing struct {
	Objects []Object
	// More is true when objects after the last one returned may exist.
	More bool
	// ServerTime is the server's clock when it answered (the HTTP Date
	// header), or the zero time when unknown; object ages are measured
	// against it so that tombstone reclamation does not depend on the
	// local clock agreeing with the server's.
	ServerTime time.Time
}
