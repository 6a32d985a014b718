package etcd

import (
	"context"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// TTL buckets.
//
// Native expiry attaches an entry to an etcd lease, and etcd deletes every
// key of a lease when the lease expires. One lease per write would cost one
// grant per write and a lease object per entry on the server; keeping
// per-entry leases alive would cost one keep-alive per entry. Instead the
// time axis is cut into buckets of Options.BucketWidth, aligned on the Unix
// epoch, and every entry whose deadline (PutOptions.ExpireAt) falls in a
// bucket is attached to that bucket's lease:
//
//   - the lease of the bucket ending at E is granted on first use with
//     TTL = ceil(E - now) + 1 s, so etcd deletes its keys at E + 1 s at the
//     earliest, never before any of their deadlines (≤ E), and at most one
//     bucket width (+ 1 s + etcd's expiry tick) after them;
//   - a bucket lease is never kept alive: when the lease logic renews a
//     record it rewrites it with a later deadline, which moves the record to
//     a later bucket, so renewals cost no keep-alive at all and a store holds
//     O(live buckets) leases (deadline horizon / bucket width), whatever the
//     number of entries;
//   - leases are cached in a map by bucket, granted once (concurrent writers
//     of a new bucket wait for one grant), and forgotten once expired;
//   - a cached lease is not used within bucketSafety of its expiry (a new
//     one is granted for the bucket), and a write that still meets an
//     expired lease (etcd answers "requested lease not found") is retried
//     once with a fresh grant;
//   - after Options.MaxKeysPerLease attachments a bucket gets a fresh lease,
//     which bounds etcd's per-put permission check for non-root users
//     (it checks every key already attached to the lease).
//
// Leases are per Store (per Orbit server): servers do not coordinate, so the
// cluster holds O(servers × live buckets) leases. Close does not revoke them:
// their entries belong to the shared directory.

// bucketSafety: a cached bucket lease closer than this to its expiry is not
// used for new writes.
const bucketSafety = time.Second

// bucketLease is one granted (or being granted) lease of one bucket.
type bucketLease struct {
	end     int64 // bucket end, Unix seconds
	id      clientv3.LeaseID
	expires time.Time // local estimate of the lease's expiry (grant sent + TTL)
	uses    int
	ready   chan struct{} // closed once the grant finished (err or id set)
	err     error
}

// leaseRef is the lease one write attached to (zero when none).
type leaseRef struct {
	b  *bucketLease
	id clientv3.LeaseID
}

type buckets struct {
	s  *Store
	mu sync.Mutex
	m  map[int64]*bucketLease
}

func (b *buckets) init(s *Store) {
	b.s = s
	b.m = map[int64]*bucketLease{}
}

// bucketEnd returns the end (Unix seconds) of the bucket holding deadline at.
func (b *buckets) bucketEnd(at time.Time) int64 {
	w := int64(b.s.opts.BucketWidth / time.Second)
	sec := at.Unix()
	if at.Nanosecond() > 0 {
		sec++ // round up: the bucket must end at or after the deadline
	}
	return (sec + w - 1) / w * w
}

// lease returns the lease of the bucket of deadline (a deadline in the
// past uses the current bucket), granting it if needed.
func (b *buckets) lease(ctx context.Context, deadline time.Time) (leaseRef, error) {
	now := time.Now()
	if deadline.Before(now) {
		deadline = now
	}
	end := b.bucketEnd(deadline)
	for {
		b.mu.Lock()
		bl := b.m[end]
		if bl != nil {
			select {
			case <-bl.ready:
			default:
				b.mu.Unlock()
				select { // another writer is granting this bucket's lease
				case <-bl.ready:
				case <-ctx.Done():
					return leaseRef{}, ctx.Err()
				}
				if bl.err != nil {
					return leaseRef{}, bl.err
				}
				continue
			}
			if bl.err == nil && time.Until(bl.expires) > bucketSafety &&
				(b.s.opts.MaxKeysPerLease < 0 || bl.uses < b.s.opts.MaxKeysPerLease) {
				bl.uses++
				b.mu.Unlock()
				return leaseRef{b: bl, id: bl.id}, nil
			}
		}
		nb := &bucketLease{end: end, ready: make(chan struct{}), uses: 1}
		b.m[end] = nb
		b.pruneLocked(now)
		b.mu.Unlock()
		return b.grant(ctx, nb)
	}
}

// grant asks etcd for nb's lease and publishes the outcome to the writers
// waiting for it.
func (b *buckets) grant(ctx context.Context, nb *bucketLease) (leaseRef, error) {
	sent := time.Now()
	ttl := (nb.end*int64(time.Second) - sent.UnixNano() + int64(time.Second) - 1) / int64(time.Second)
	ttl += int64(bucketSafety / time.Second)
	resp, err := b.s.client.Grant(ctx, max(ttl, 1))
	b.mu.Lock()
	defer b.mu.Unlock()
	if err != nil {
		nb.err = err
		if b.m[nb.end] == nb {
			delete(b.m, nb.end)
		}
	} else {
		nb.id = resp.ID
		nb.expires = sent.Add(time.Duration(resp.TTL) * time.Second)
	}
	close(nb.ready)
	if err != nil {
		return leaseRef{}, err
	}
	return leaseRef{b: nb, id: nb.id}, nil
}

// forget drops r's lease from the cache after etcd reported it gone.
func (b *buckets) forget(r leaseRef) {
	if r.b == nil {
		return
	}
	b.mu.Lock()
	if b.m[r.b.end] == r.b {
		delete(b.m, r.b.end)
	}
	b.mu.Unlock()
}

// pruneLocked forgets the leases that have expired.
func (b *buckets) pruneLocked(now time.Time) {
	for end, bl := range b.m {
		select {
		case <-bl.ready:
			if bl.err != nil || bl.expires.Before(now) {
				delete(b.m, end)
			}
		default:
		}
	}
}

// cached returns the number of bucket leases in the cache.
func (b *buckets) cached() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.m)
}
