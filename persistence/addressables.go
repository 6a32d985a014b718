package persistence

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unsafe"

	"github.com/orbit-go/orbit/internal/cas"
	"github.com/orbit-go/orbit/persistence/driver"
)

// addressables implements AddressableDirectory over a driver.Store.
//
// Protocol (any backend with atomic conditional writes):
//   - a lease record is only ever written with a condition on the version
//     read just before (or create-only), so of two racing writers exactly one
//     wins and the other re-reads;
//   - the per-node index entry is written before the lease record (or in the
//     same transaction), so the index always covers every live lease; reads
//     through the index check the lease record, which is the truth;
//   - released and expired records are kept for EpochGrace so the next epoch
//     continues their sequence.
type addressables struct {
	kv     *kv
	opt    *options
	cache  *versionCache[leaseRecord] // nil when reads are cheap (driver.InProcess)
	labels labelCache
}

var _ AddressableDirectory = (*addressables)(nil)

// nextEpoch returns an epoch greater than prev that is also at least the
// placement time in microseconds (see DefaultEpochGrace).
func nextEpoch(prev uint64, now time.Time) uint64 {
	e := prev + 1
	if us := now.UnixMicro(); us > 0 && uint64(us) > e {
		e = uint64(us)
	}
	return e
}

func checkTTL(ttl time.Duration) error {
	if ttl <= 0 {
		return invalid("ttl", "%s must be positive", ttl)
	}
	return nil
}

// read returns the record under key; found is false if absent.
func (a *addressables) read(ctx context.Context, key string) (rec leaseRecord, ver driver.Version, found bool, err error) {
	e, err := a.kv.store.Get(ctx, key)
	if errors.Is(err, ErrNotFound) {
		return rec, ver, false, nil
	}
	if err != nil {
		return rec, ver, false, fmt.Errorf("read lease %q: %w", key, err)
	}
	rec, err = decodeLease(key, e.Value)
	if err != nil {
		return rec, ver, false, fmt.Errorf("decode lease %q: %w", key, err)
	}
	a.cache.put(key, e.Version, rec)
	return rec, e.Version, true, nil
}

func (a *addressables) Place(ctx context.Context, ref AddressableReference, node NodeID, ttl time.Duration, opts ...LeaseOption) (AddressableLease, error) {
	inc := incarnationOf(opts)
	if err := ref.Validate(); err != nil {
		return AddressableLease{}, err
	}
	if err := node.Validate(); err != nil {
		return AddressableLease{}, err
	}
	if err := checkTTL(ttl); err != nil {
		return AddressableLease{}, err
	}
	key := leaseKey(ref)
	if a.kv.index != nil || a.kv.txn != nil {
		// Most placements are of addressables without a record: try the
		// create-only write first and read only if a record exists (one
		// round trip instead of two). Only where the index is written
		// atomically with the record: on a bare KV store a failed attempt
		// would leave an index entry behind.
		now := a.opt.clock.Now()
		lease := AddressableLease{Reference: ref, Node: node, CreatedAt: now,
			RenewAt: now.Add(ttl / 2), ExpiresAt: now.Add(ttl), Epoch: nextEpoch(0, now), NodeIncarnation: inc}
		err := a.writeLease(ctx, key, leaseRecord{AddressableLease: lease}, driver.Version{}, NodeID{}, writeIndex)
		if err == nil {
			return lease, nil
		}
		if !errors.Is(err, ErrConflict) {
			return AddressableLease{}, fmt.Errorf("place %s: %w", ref, err)
		}
	}
	return cas.Retry(ctx, a.opt.cas, "place", ref, func(int) (AddressableLease, bool, error) {
		prev, ver, found, err := a.read(ctx, key)
		if err != nil {
			return AddressableLease{}, false, fmt.Errorf("place %s: %w", ref, err)
		}
		now := a.opt.clock.Now()
		if found && !prev.Released && prev.Live(now) {
			if prev.Node == node && prev.NodeIncarnation == inc {
				return prev.AddressableLease, false, nil
			}
			return prev.AddressableLease, false, &LeaseConflictError{Current: prev.AddressableLease}
		}
		lease := AddressableLease{
			Reference: ref, Node: node, CreatedAt: now,
			RenewAt: now.Add(ttl / 2), ExpiresAt: now.Add(ttl),
			Epoch: nextEpoch(prev.Epoch, now), NodeIncarnation: inc,
		}
		var oldNode NodeID
		if found {
			oldNode = prev.Node
		}
		err = a.writeLease(ctx, key, leaseRecord{AddressableLease: lease}, ver, oldNode, writeIndex)
		if errors.Is(err, ErrConflict) {
			return AddressableLease{}, true, nil // someone else wrote first: re-read and judge again
		}
		if err != nil {
			return AddressableLease{}, false, fmt.Errorf("place %s: %w", ref, err)
		}
		return lease, false, nil
	})
}

func (a *addressables) Takeover(ctx context.Context, ref AddressableReference, from NodeID, fromEpoch uint64, to NodeID, ttl time.Duration, opts ...LeaseOption) (AddressableLease, error) {
	inc := incarnationOf(opts)
	for _, err := range []error{ref.Validate(), from.Validate(), to.Validate(), checkTTL(ttl)} {
		if err != nil {
			return AddressableLease{}, err
		}
	}
	key := leaseKey(ref)
	return cas.Retry(ctx, a.opt.cas, "takeover", ref, func(int) (AddressableLease, bool, error) {
		prev, ver, found, err := a.read(ctx, key)
		if err != nil {
			return AddressableLease{}, false, fmt.Errorf("takeover %s: %w", ref, err)
		}
		now := a.opt.clock.Now()
		if !found || prev.Node != from || prev.Epoch != fromEpoch {
			if found && !prev.Released && prev.Live(now) {
				return prev.AddressableLease, false, &LeaseConflictError{Current: prev.AddressableLease}
			}
			return AddressableLease{}, false, fmt.Errorf("takeover %s: the lease is no longer held by node %s at epoch %d: %w", ref, from, fromEpoch, ErrFenced)
		}
		lease := AddressableLease{Reference: ref, Node: to, CreatedAt: now, RenewAt: now.Add(ttl / 2), ExpiresAt: now.Add(ttl),
			Epoch: nextEpoch(prev.Epoch, now), NodeIncarnation: inc}
		err = a.writeLease(ctx, key, leaseRecord{AddressableLease: lease}, ver, prev.Node, writeIndex)
		if errors.Is(err, ErrConflict) {
			return AddressableLease{}, true, nil
		}
		if err != nil {
			return AddressableLease{}, false, fmt.Errorf("takeover %s: %w", ref, err)
		}
		return lease, false, nil
	})
}

func (a *addressables) Get(ctx context.Context, ref AddressableReference) (AddressableLease, error) {
	// The hot path: the key is built in a recycled buffer and the record is
	// decoded against ref, straight into the result. Validation is deferred
	// to the miss path: the key encoding is injective and only valid
	// references are ever written, so a record found under leaseKey(ref)
	// proves ref valid.
	var out AddressableLease
	bp := keyBufs.Get().(*[]byte)
	b := appendLeaseKey((*bp)[:0], ref)
	e, err := a.kv.store.Get(ctx, unsafe.String(unsafe.SliceData(b), len(b)))
	*bp = b
	keyBufs.Put(bp) // drivers do not retain the keys passed to Get
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			if verr := ref.Validate(); verr != nil {
				return out, verr
			}
			return out, fmt.Errorf("lease of %s: %w", ref, ErrNotFound)
		}
		return out, fmt.Errorf("read lease of %s: %w", ref, err)
	}
	released, err := decodeLeaseInto(&out, ref, e.Value)
	if err != nil {
		return AddressableLease{}, fmt.Errorf("decode lease of %s: %w", ref, err)
	}
	if released || !out.Live(a.opt.clock.Now()) {
		return AddressableLease{}, fmt.Errorf("lease of %s: %w", ref, ErrNotFound)
	}
	return out, nil
}

// holderCAS re-reads ref's record, checks that (node, epoch) holds its live
// lease (granted to incarnation inc of node, when inc is not 0), and writes
// mutate(record) with a version condition, retrying lost races.
func (a *addressables) holderCAS(ctx context.Context, op string, ref AddressableReference, node NodeID, epoch, inc uint64,
	mutate func(rec *leaseRecord, now time.Time)) (AddressableLease, error) {
	key := leaseKey(ref)
	return cas.Retry(ctx, a.opt.cas, op, ref, func(attempt int) (AddressableLease, bool, error) {
		var rec leaseRecord
		var ver driver.Version
		var found bool
		// First attempt: the record this provider last saw, if it shows
		// the caller holding a live lease (a stale one fails the condition).
		if c, ok := a.cache.get(key); ok && attempt == 0 && !c.rec.Released && c.rec.Node == node &&
			c.rec.Epoch == epoch && c.rec.Live(a.opt.clock.Now()) {
			rec, ver, found = c.rec, c.ver, true
		} else {
			var err error
			if rec, ver, found, err = a.read(ctx, key); err != nil {
				return AddressableLease{}, false, fmt.Errorf("%s %s: %w", op, ref, err)
			}
		}
		now := a.opt.clock.Now()
		if !found || rec.Released || !rec.Live(now) {
			return AddressableLease{}, false, fmt.Errorf("%s %s: no unexpired lease: %w", op, ref, ErrNotFound)
		}
		if rec.Node != node || rec.Epoch != epoch {
			return AddressableLease{}, false, fmt.Errorf("%s %s: lease is held by node %s at epoch %d, caller presented node %s epoch %d: %w",
				op, ref, rec.Node, rec.Epoch, node, epoch, ErrFenced)
		}
		if inc != 0 && rec.NodeIncarnation != inc {
			return AddressableLease{}, false, fmt.Errorf("%s %s: lease was granted to incarnation %d of node %s, caller is incarnation %d: %w",
				op, ref, rec.NodeIncarnation, node, inc, ErrFenced)
		}
		mutate(&rec, now)
		// A renewal keeps the index entry written at placement (rewriting it
		// only when the backend deletes entries natively, to push its
		// deadline along with the lease's); a release drops it (atomically
		// where the backend has transactions).
		var dropIndexOf NodeID
		if rec.Released {
			dropIndexOf = node
		}
		idx := keepIndex
		if !rec.Released && a.kv.expiry != nil {
			idx = writeIndex
		}
		err := a.writeLease(ctx, key, rec, ver, dropIndexOf, idx)
		if errors.Is(err, ErrConflict) {
			return AddressableLease{}, true, nil
		}
		if err != nil {
			return AddressableLease{}, false, fmt.Errorf("%s %s: %w", op, ref, err)
		}
		return rec.AddressableLease, false, nil
	})
}

func (a *addressables) Renew(ctx context.Context, ref AddressableReference, node NodeID, epoch uint64, ttl time.Duration, opts ...LeaseOption) (AddressableLease, error) {
	if err := ref.Validate(); err != nil {
		return AddressableLease{}, err
	}
	if err := node.Validate(); err != nil {
		return AddressableLease{}, err
	}
	if err := checkTTL(ttl); err != nil {
		return AddressableLease{}, err
	}
	return a.holderCAS(ctx, "renew", ref, node, epoch, incarnationOf(opts), func(rec *leaseRecord, now time.Time) {
		rec.RenewAt, rec.ExpiresAt = now.Add(ttl/2), now.Add(ttl)
	})
}

func (a *addressables) Update(ctx context.Context, lease AddressableLease) (AddressableLease, error) {
	if err := lease.Validate(); err != nil {
		return AddressableLease{}, err
	}
	return a.holderCAS(ctx, "update", lease.Reference, lease.Node, lease.Epoch, lease.NodeIncarnation, func(rec *leaseRecord, _ time.Time) {
		rec.RenewAt, rec.ExpiresAt = lease.RenewAt, lease.ExpiresAt
	})
}

func (a *addressables) Release(ctx context.Context, ref AddressableReference, node NodeID, epoch uint64, opts ...LeaseOption) error {
	if err := ref.Validate(); err != nil {
		return err
	}
	if err := node.Validate(); err != nil {
		return err
	}
	_, err := a.holderCAS(ctx, "release", ref, node, epoch, incarnationOf(opts), func(rec *leaseRecord, now time.Time) {
		rec.Released, rec.RenewAt, rec.ExpiresAt = true, now, now
	})
	return err
}

func (a *addressables) Store(ctx context.Context, lease AddressableLease) error {
	if err := lease.Validate(); err != nil {
		return err
	}
	key := leaseKey(lease.Reference)
	_, err := cas.Retry(ctx, a.opt.cas, "store lease", lease.Reference, func(int) (struct{}, bool, error) {
		prev, ver, found, err := a.read(ctx, key)
		if err != nil {
			return struct{}{}, false, fmt.Errorf("store lease %s: %w", lease.Reference, err)
		}
		var oldNode NodeID
		if found {
			if err := storeRule(prev, lease); err != nil {
				return struct{}{}, false, err
			}
			oldNode = prev.Node
		}
		err = a.writeLease(ctx, key, leaseRecord{AddressableLease: lease}, ver, oldNode, writeIndex)
		if errors.Is(err, ErrConflict) {
			return struct{}{}, true, nil
		}
		if err != nil {
			return struct{}{}, false, fmt.Errorf("store lease %s: %w", lease.Reference, err)
		}
		return struct{}{}, false, nil
	})
	return err
}

func (a *addressables) Remove(ctx context.Context, ref AddressableReference) error {
	if err := ref.Validate(); err != nil {
		return err
	}
	key := leaseKey(ref)
	_, err := cas.Retry(ctx, a.opt.cas, "remove", ref, func(int) (struct{}, bool, error) {
		rec, ver, found, err := a.read(ctx, key)
		if err != nil {
			return struct{}{}, false, fmt.Errorf("remove %s: %w", ref, err)
		}
		if !found || rec.Released {
			return struct{}{}, false, nil
		}
		oldNode := rec.Node
		rec = released(rec, a.opt.clock.Now())
		err = a.writeLease(ctx, key, rec, ver, oldNode, keepIndex)
		if errors.Is(err, ErrConflict) {
			return struct{}{}, true, nil
		}
		if err != nil {
			return struct{}{}, false, fmt.Errorf("remove %s: %w", ref, err)
		}
		return struct{}{}, false, nil
	})
	return err
}

// storeRule is Store's epoch rule: a lease may replace the stored one only
// with a higher epoch, or the same epoch on the same node.
func storeRule(prev leaseRecord, lease AddressableLease) error {
	if prev.Epoch > lease.Epoch || (prev.Epoch == lease.Epoch && prev.Node != lease.Node) {
		return fmt.Errorf("store lease %s at epoch %d on node %s: stored lease has epoch %d on node %s: %w",
			lease.Reference, lease.Epoch, lease.Node, prev.Epoch, prev.Node, ErrFenced)
	}
	return nil
}

// released returns rec marked released at now (Remove).
func released(rec leaseRecord, now time.Time) leaseRecord {
	rec.Released, rec.RenewAt = true, now
	if rec.ExpiresAt.After(now) {
		rec.ExpiresAt = now
	}
	if rec.CreatedAt.After(rec.ExpiresAt) {
		rec.CreatedAt = rec.ExpiresAt
	}
	return rec
}

func (a *addressables) StoreBulk(ctx context.Context, leases []AddressableLease) error {
	if a.kv.batch != nil && a.kv.index != nil {
		return a.storeBulkBatched(ctx, leases)
	}
	return runBulk(ctx, a.opt.bulkConcurrency, len(leases), func(ctx context.Context, i int) error {
		return a.Store(ctx, leases[i])
	})
}

func (a *addressables) RemoveBulk(ctx context.Context, refs []AddressableReference) error {
	if a.kv.batch != nil && a.kv.index != nil {
		return a.removeBulkBatched(ctx, refs)
	}
	return runBulk(ctx, a.opt.bulkConcurrency, len(refs), func(ctx context.Context, i int) error {
		return a.Remove(ctx, refs[i])
	})
}
