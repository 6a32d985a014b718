package memory

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/orbit-go/orbit/persistence/driver"
)

// The expiry filing (driver.ExpiryLister): each shard files its keys that
// carry an ExpireAt in buckets of ExpiryBucket, keyed by the bucket's end in
// Unix seconds. A key is in at most one bucket; the shard's lock guards the
// buckets, so a write refiles its key in the same critical section that
// stores it. A renewal that stays in its bucket costs nothing more.

// ExpiryBucket is the width of the expiry filing's buckets: ListExpiring
// may return entries filed up to this much later than asked.
const ExpiryBucket = 10 * time.Second

const expiryBucketSeconds = int64(ExpiryBucket / time.Second)

// bucketOf returns the end (Unix seconds, rounded up to a bucket boundary)
// of the bucket of t; 0 for the zero time (not filed). A time at or before
// the Unix epoch is filed in the first bucket.
func bucketOf(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	sec := t.Unix()
	if t.Nanosecond() != 0 {
		sec++ // round up: the bucket ends at or after t
	}
	return roundBucket(sec)
}

// roundBucket rounds a Unix second up to the end of its bucket (at least
// the first bucket's).
func roundBucket(sec int64) int64 {
	if sec <= 0 {
		return expiryBucketSeconds
	}
	return (sec + expiryBucketSeconds - 1) / expiryBucketSeconds * expiryBucketSeconds
}

// file moves ref into bucket (0: out of the filing); the caller holds the
// shard's lock for writing. Each bucket is a doubly linked list through the
// keys' handles: filing costs no allocation and O(1) time.
func (sh *shard) file(ref *keyRef, bucket int64) {
	old := ref.bucket.Load()
	if old == bucket {
		return
	}
	if old != 0 {
		switch {
		case ref.prev != nil:
			ref.prev.next = ref.next
		case ref.next != nil:
			sh.expiry[old] = ref.next
		default:
			delete(sh.expiry, old)
		}
		if ref.next != nil {
			ref.next.prev = ref.prev
		}
		ref.prev, ref.next = nil, nil
	}
	ref.bucket.Store(bucket)
	if bucket == 0 {
		return
	}
	if sh.expiry == nil {
		sh.expiry = map[int64]*keyRef{}
	}
	if head := sh.expiry[bucket]; head != nil {
		head.prev, ref.next = ref, head
	}
	sh.expiry[bucket] = ref
}

// due appends to out the entries under prefix filed in buckets ending at or
// before last, earliest bucket first, until out holds limit entries.
func (sh *shard) due(out []driver.Entry, prefix string, last int64, limit int) []driver.Entry {
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	buckets := make([]int64, 0, 8)
	for b := range sh.expiry {
		if b <= last {
			buckets = append(buckets, b)
		}
	}
	slices.Sort(buckets)
	for _, b := range buckets {
		for ref := sh.expiry[b]; ref != nil; ref = ref.next {
			r := ref.cur.Load()
			k := r.key()
			if !strings.HasPrefix(k, prefix) {
				continue
			}
			if len(out) == limit {
				return out
			}
			out = append(out, driver.Entry{Key: k, Value: r.value(), Version: driver.NumVersion(r.version)})
		}
	}
	return out
}

// ListExpiring returns up to limit entries under prefix whose ExpireAt is
// at or before before, or up to ExpiryBucket later (driver.ExpiryLister).
func (s *Store) ListExpiring(ctx context.Context, prefix string, before time.Time, limit int) ([]driver.Entry, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = driver.DefaultExpiringLimit
	}
	last := bucketOf(before)
	var out []driver.Entry
	for i := range s.shards {
		if out = s.shards[i].due(out, prefix, last, limit); len(out) == limit {
			break
		}
	}
	return out, nil
}

// ExpiryGranularity is the width of the filing's buckets.
func (s *Store) ExpiryGranularity() time.Duration { return ExpiryBucket }
