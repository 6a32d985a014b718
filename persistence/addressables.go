package persistence

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"iter"
	"strings"
	"time"
	"unsafe"

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
	kv    *kv
	opt   *options
	cache *versionCache // nil when reads are cheap (driver.InProcess)
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

// writeLease installs rec under key if the record is still at ver (zero ver
// = create-only), together with node's index entry. oldNode, if set and
// different, loses its index entry when the backend has transactions.
func (a *addressables) writeLease(ctx context.Context, key string, rec leaseRecord, ver driver.Version, found bool, oldNode NodeID, writeIndex bool) error {
	v, err := a.writeLeaseVersion(ctx, key, rec, ver, found, oldNode, writeIndex)
	if err != nil {
		a.cache.drop(key)
		return err
	}
	a.cache.put(key, v, rec)
	return nil
}

func (a *addressables) writeLeaseVersion(ctx context.Context, key string, rec leaseRecord, ver driver.Version, found bool, oldNode NodeID, writeIndex bool) (driver.Version, error) {
	cond := driver.CreateOnly()
	if found {
		cond = driver.MatchVersion(ver)
	}
	val := encodeLease(rec)
	if a.kv.index != nil {
		// The backend labels the record with its holder atomically: no
		// separate index entries.
		return a.kv.put(ctx, key, val, cond, leaseLabel(rec), rec.ExpiresAt)
	}
	now := a.opt.clock.Now()
	idxVal := encodeIndex(indexRecord{Epoch: rec.Epoch, WrittenAt: now})
	after := a.kv.expireAt(rec.ExpiresAt)
	if a.kv.txn != nil {
		ops := make([]driver.Op, 0, 3)
		ops = append(ops, driver.Op{Kind: driver.OpPut, Key: key, Value: val, Cond: cond, ExpireAt: after})
		if writeIndex {
			ops = append(ops, driver.Op{Kind: driver.OpPut, Key: indexKey(rec.Node, key), Value: idxVal,
				Cond: driver.Unconditional(), ExpireAt: after})
		}
		if !oldNode.IsZero() && (oldNode != rec.Node || !writeIndex) {
			ops = append(ops, driver.Op{Kind: driver.OpDelete, Key: indexKey(oldNode, key), Cond: driver.Unconditional()})
		}
		vs, err := a.kv.txn.Txn(ctx, ops)
		if err != nil || len(vs) == 0 {
			return driver.Version{}, err
		}
		return vs[0], nil
	}
	if writeIndex {
		if _, err := a.kv.put(ctx, indexKey(rec.Node, key), idxVal, driver.Unconditional(), "", rec.ExpiresAt); err != nil {
			return driver.Version{}, fmt.Errorf("write node index: %w", err)
		}
	}
	return a.kv.put(ctx, key, val, cond, "", rec.ExpiresAt)
}

func (a *addressables) Place(ctx context.Context, ref AddressableReference, node NodeID, ttl time.Duration) (AddressableLease, error) {
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
			RenewAt: now.Add(ttl / 2), ExpiresAt: now.Add(ttl), Epoch: nextEpoch(0, now)}
		err := a.writeLease(ctx, key, leaseRecord{AddressableLease: lease}, driver.Version{}, false, NodeID{}, true)
		if err == nil {
			return lease, nil
		}
		if !errors.Is(err, ErrConflict) {
			return AddressableLease{}, fmt.Errorf("place %s: %w", ref, err)
		}
	}
	for attempt := 0; attempt < a.opt.casRetries; attempt++ {
		prev, ver, found, err := a.read(ctx, key)
		if err != nil {
			return AddressableLease{}, fmt.Errorf("place %s: %w", ref, err)
		}
		now := a.opt.clock.Now()
		if found && !prev.Released && prev.Live(now) {
			if prev.Node == node {
				return prev.AddressableLease, nil
			}
			return prev.AddressableLease, &LeaseConflictError{Current: prev.AddressableLease}
		}
		lease := AddressableLease{
			Reference: ref, Node: node, CreatedAt: now,
			RenewAt: now.Add(ttl / 2), ExpiresAt: now.Add(ttl),
			Epoch: nextEpoch(prev.Epoch, now),
		}
		var oldNode NodeID
		if found {
			oldNode = prev.Node
		}
		err = a.writeLease(ctx, key, leaseRecord{AddressableLease: lease}, ver, found, oldNode, true)
		if errors.Is(err, ErrConflict) {
			continue // someone else wrote first: re-read and judge again
		}
		if err != nil {
			return AddressableLease{}, fmt.Errorf("place %s: %w", ref, err)
		}
		return lease, nil
	}
	return AddressableLease{}, fmt.Errorf("place %s: lost %d compare-and-swap races in a row: %w", ref, a.opt.casRetries, ErrConflict)
}

func (a *addressables) Takeover(ctx context.Context, ref AddressableReference, from NodeID, fromEpoch uint64, to NodeID, ttl time.Duration) (AddressableLease, error) {
	for _, err := range []error{ref.Validate(), from.Validate(), to.Validate(), checkTTL(ttl)} {
		if err != nil {
			return AddressableLease{}, err
		}
	}
	key := leaseKey(ref)
	for attempt := 0; attempt < a.opt.casRetries; attempt++ {
		prev, ver, found, err := a.read(ctx, key)
		if err != nil {
			return AddressableLease{}, fmt.Errorf("takeover %s: %w", ref, err)
		}
		now := a.opt.clock.Now()
		if !found || prev.Node != from || prev.Epoch != fromEpoch {
			if found && !prev.Released && prev.Live(now) {
				return prev.AddressableLease, &LeaseConflictError{Current: prev.AddressableLease}
			}
			return AddressableLease{}, fmt.Errorf("takeover %s: the lease is no longer held by node %s at epoch %d: %w", ref, from, fromEpoch, ErrFenced)
		}
		lease := AddressableLease{Reference: ref, Node: to, CreatedAt: now, RenewAt: now.Add(ttl / 2), ExpiresAt: now.Add(ttl),
			Epoch: nextEpoch(prev.Epoch, now)}
		err = a.writeLease(ctx, key, leaseRecord{AddressableLease: lease}, ver, true, prev.Node, true)
		if errors.Is(err, ErrConflict) {
			continue
		}
		if err != nil {
			return AddressableLease{}, fmt.Errorf("takeover %s: %w", ref, err)
		}
		return lease, nil
	}
	return AddressableLease{}, fmt.Errorf("takeover %s: lost %d compare-and-swap races in a row: %w", ref, a.opt.casRetries, ErrConflict)
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
// lease, and writes mutate(record) with a version condition, retrying lost races.
func (a *addressables) holderCAS(ctx context.Context, op string, ref AddressableReference, node NodeID, epoch uint64,
	mutate func(rec *leaseRecord, now time.Time)) (AddressableLease, error) {
	key := leaseKey(ref)
	for attempt := 0; attempt < a.opt.casRetries; attempt++ {
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
				return AddressableLease{}, fmt.Errorf("%s %s: %w", op, ref, err)
			}
		}
		now := a.opt.clock.Now()
		if !found || rec.Released || !rec.Live(now) {
			return AddressableLease{}, fmt.Errorf("%s %s: no unexpired lease: %w", op, ref, ErrNotFound)
		}
		if rec.Node != node || rec.Epoch != epoch {
			return AddressableLease{}, fmt.Errorf("%s %s: lease is held by node %s at epoch %d, caller presented node %s epoch %d: %w",
				op, ref, rec.Node, rec.Epoch, node, epoch, ErrFenced)
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
		rewriteIndex := !rec.Released && a.kv.expiry != nil
		err := a.writeLease(ctx, key, rec, ver, true, dropIndexOf, rewriteIndex)
		if errors.Is(err, ErrConflict) {
			continue
		}
		if err != nil {
			return AddressableLease{}, fmt.Errorf("%s %s: %w", op, ref, err)
		}
		return rec.AddressableLease, nil
	}
	return AddressableLease{}, fmt.Errorf("%s %s: lost %d compare-and-swap races in a row: %w", op, ref, a.opt.casRetries, ErrConflict)
}

func (a *addressables) Renew(ctx context.Context, ref AddressableReference, node NodeID, epoch uint64, ttl time.Duration) (AddressableLease, error) {
	if err := ref.Validate(); err != nil {
		return AddressableLease{}, err
	}
	if err := node.Validate(); err != nil {
		return AddressableLease{}, err
	}
	if err := checkTTL(ttl); err != nil {
		return AddressableLease{}, err
	}
	return a.holderCAS(ctx, "renew", ref, node, epoch, func(rec *leaseRecord, now time.Time) {
		rec.RenewAt, rec.ExpiresAt = now.Add(ttl/2), now.Add(ttl)
	})
}

func (a *addressables) Update(ctx context.Context, lease AddressableLease) (AddressableLease, error) {
	if err := lease.Validate(); err != nil {
		return AddressableLease{}, err
	}
	return a.holderCAS(ctx, "update", lease.Reference, lease.Node, lease.Epoch, func(rec *leaseRecord, _ time.Time) {
		rec.RenewAt, rec.ExpiresAt = lease.RenewAt, lease.ExpiresAt
	})
}

func (a *addressables) Release(ctx context.Context, ref AddressableReference, node NodeID, epoch uint64) error {
	if err := ref.Validate(); err != nil {
		return err
	}
	if err := node.Validate(); err != nil {
		return err
	}
	_, err := a.holderCAS(ctx, "release", ref, node, epoch, func(rec *leaseRecord, now time.Time) {
		rec.Released, rec.RenewAt, rec.ExpiresAt = true, now, now
	})
	return err
}

func (a *addressables) Store(ctx context.Context, lease AddressableLease) error {
	if err := lease.Validate(); err != nil {
		return err
	}
	key := leaseKey(lease.Reference)
	for attempt := 0; attempt < a.opt.casRetries; attempt++ {
		prev, ver, found, err := a.read(ctx, key)
		if err != nil {
			return fmt.Errorf("store lease %s: %w", lease.Reference, err)
		}
		var oldNode NodeID
		if found {
			if err := storeRule(prev, lease); err != nil {
				return err
			}
			oldNode = prev.Node
		}
		err = a.writeLease(ctx, key, leaseRecord{AddressableLease: lease}, ver, found, oldNode, true)
		if errors.Is(err, ErrConflict) {
			continue
		}
		if err != nil {
			return fmt.Errorf("store lease %s: %w", lease.Reference, err)
		}
		return nil
	}
	return fmt.Errorf("store lease %s: lost %d compare-and-swap races in a row: %w", lease.Reference, a.opt.casRetries, ErrConflict)
}

func (a *addressables) Remove(ctx context.Context, ref AddressableReference) error {
	if err := ref.Validate(); err != nil {
		return err
	}
	key := leaseKey(ref)
	for attempt := 0; attempt < a.opt.casRetries; attempt++ {
		rec, ver, found, err := a.read(ctx, key)
		if err != nil {
			return fmt.Errorf("remove %s: %w", ref, err)
		}
		if !found || rec.Released {
			return nil
		}
		oldNode := rec.Node
		rec = released(rec, a.opt.clock.Now())
		err = a.writeLease(ctx, key, rec, ver, true, oldNode, false)
		if errors.Is(err, ErrConflict) {
			continue
		}
		if err != nil {
			return fmt.Errorf("remove %s: %w", ref, err)
		}
		return nil
	}
	return fmt.Errorf("remove %s: lost %d compare-and-swap races in a row: %w", ref, a.opt.casRetries, ErrConflict)
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

// Page tokens are the base64 of the last storage key returned, so that a
// listing resumes exactly after it whatever changed in between.
func encodeToken(key string) string { return base64.RawURLEncoding.EncodeToString([]byte(key)) }

func decodeToken(tok, prefix string) (string, error) {
	if tok == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || !strings.HasPrefix(string(b), prefix) {
		return "", invalid("page_token", "%q is not a token of this listing", tok)
	}
	return string(b), nil
}

func pageLimit(n int) (int, error) {
	switch {
	case n < 0:
		return 0, invalid("limit", "%d must be >= 0", n)
	case n == 0:
		return DefaultPageSize, nil
	case n > MaxPageSize:
		return MaxPageSize, nil
	}
	return n, nil
}

// leaseLabel is the native index label of a lease record: its holder, or
// none once released.
func leaseLabel(rec leaseRecord) string {
	if rec.Released {
		return ""
	}
	return rec.Node.String()
}

// lister lists one page of entries.
type lister func(ctx context.Context, opts driver.ListOptions) (driver.ListPage, error)

func (a *addressables) prefixLister(prefix string) lister {
	return func(ctx context.Context, opts driver.ListOptions) (driver.ListPage, error) {
		return a.kv.store.List(ctx, prefix, opts)
	}
}

// scan lists keys under prefix from token, calls keep for each entry until
// limit items were kept or the prefix is exhausted, and returns the token of
// the last entry examined ("" when done).
func (a *addressables) scan(ctx context.Context, list lister, tokenPrefix, token string, limit int, keep func(driver.Entry) (bool, error)) (string, error) {
	after, err := decodeToken(token, tokenPrefix)
	if err != nil {
		return "", err
	}
	kept := 0
	for {
		page, err := list(ctx, driver.ListOptions{StartAfter: after, Limit: limit - kept})
		if err != nil {
			return "", fmt.Errorf("list %q: %w", tokenPrefix, err)
		}
		for _, e := range page.Entries {
			after = e.Key
			ok, err := keep(e)
			if err != nil {
				return "", err
			}
			if ok {
				kept++
				if kept == limit {
					if !page.More && e.Key == page.Entries[len(page.Entries)-1].Key {
						return "", nil
					}
					return encodeToken(after), nil
				}
			}
		}
		if !page.More || len(page.Entries) == 0 {
			return "", nil
		}
	}
}

func (a *addressables) List(ctx context.Context, req PageRequest) (LeasePage, error) {
	limit, err := pageLimit(req.Limit)
	if err != nil {
		return LeasePage{}, err
	}
	if req.Namespace != "" {
		if err := checkIdent("namespace", req.Namespace, MaxNamespaceLen); err != nil {
			return LeasePage{}, err
		}
	}
	now := a.opt.clock.Now()
	var out LeasePage
	prefix := leaseNamespacePrefix(req.Namespace)
	out.NextPageToken, err = a.scan(ctx, a.prefixLister(prefix), prefix, req.PageToken, limit, func(e driver.Entry) (bool, error) {
		rec, err := decodeLease(e.Key, e.Value)
		if err != nil {
			return false, fmt.Errorf("decode lease %q: %w", e.Key, err)
		}
		if rec.Released || !rec.Live(now) {
			return false, nil
		}
		out.Leases = append(out.Leases, rec.AddressableLease)
		return true, nil
	})
	return out, err
}

func (a *addressables) ListByNode(ctx context.Context, node NodeID, req PageRequest) (LeasePage, error) {
	if err := node.Validate(); err != nil {
		return LeasePage{}, err
	}
	limit, err := pageLimit(req.Limit)
	if err != nil {
		return LeasePage{}, err
	}
	var out LeasePage
	if a.kv.index != nil {
		label := node.String()
		list := func(ctx context.Context, opts driver.ListOptions) (driver.ListPage, error) {
			return a.kv.index.ListIndex(ctx, label, opts)
		}
		out.NextPageToken, err = a.scan(ctx, list, leasePrefix, req.PageToken, limit, func(e driver.Entry) (bool, error) {
			rec, err := decodeLease(e.Key, e.Value)
			if err != nil {
				return false, fmt.Errorf("decode lease %q: %w", e.Key, err)
			}
			if rec.Released || rec.Node != node || !rec.Live(a.opt.clock.Now()) {
				return false, nil
			}
			out.Leases = append(out.Leases, rec.AddressableLease)
			return true, nil
		})
		return out, err
	}
	prefix := nodeIndexPrefix(node)
	out.NextPageToken, err = a.scan(ctx, a.prefixLister(prefix), prefix, req.PageToken, limit, func(e driver.Entry) (bool, error) {
		rec, _, found, err := a.read(ctx, e.Key[len(prefix):])
		if err != nil {
			return false, err
		}
		if !found || rec.Released || rec.Node != node || !rec.Live(a.opt.clock.Now()) {
			return false, nil // stale index entry: removed by cleanup
		}
		out.Leases = append(out.Leases, rec.AddressableLease)
		return true, nil
	})
	return out, err
}

func (a *addressables) All(ctx context.Context, namespace string) iter.Seq2[AddressableLease, error] {
	return func(yield func(AddressableLease, error) bool) {
		req := PageRequest{Namespace: namespace, Limit: DefaultPageSize}
		for {
			page, err := a.List(ctx, req)
			if err != nil {
				yield(AddressableLease{}, err)
				return
			}
			for _, l := range page.Leases {
				if !yield(l, nil) {
					return
				}
			}
			if page.NextPageToken == "" {
				return
			}
			req.PageToken = page.NextPageToken
		}
	}
}

// CleanupExpired deletes lease records dead for at least EpochGrace (each
// delete conditional on the version read, so a concurrent renewal or
// re-placement wins) and the index entries that no placement can need.
func (a *addressables) CleanupExpired(ctx context.Context) (int, error) {
	removed := 0
	now := a.opt.clock.Now()
	horizon := now.Add(-a.opt.epochGrace)
	err := a.forEach(ctx, leasePrefix, func(e driver.Entry) error {
		rec, err := decodeLease(e.Key, e.Value)
		if err != nil {
			return fmt.Errorf("decode lease %q: %w", e.Key, err)
		}
		if rec.ExpiresAt.After(horizon) {
			return nil
		}
		err = a.kv.store.Delete(ctx, e.Key, driver.MatchVersion(e.Version))
		switch {
		case err == nil:
			removed++
			if a.kv.index != nil {
				return nil // the native index dropped it with the record
			}
			return a.dropIndexUpTo(ctx, rec.Node, e.Key, rec.Epoch)
		case errors.Is(err, ErrConflict), errors.Is(err, ErrNotFound):
		default:
			return fmt.Errorf("cleanup lease %q: %w", e.Key, err)
		}
		return nil
	})
	if err != nil || a.kv.index != nil {
		return removed, err
	}
	err = a.forEach(ctx, indexPrefix, func(e driver.Entry) error { return a.pruneIndex(ctx, e, now) })
	return removed, err
}

// dropIndexUpTo deletes node's index entry for leaseKey if it was written
// for an epoch <= epoch (the record of that epoch was just deleted). A
// placement racing with the cleanup wrote a higher epoch and is kept.
func (a *addressables) dropIndexUpTo(ctx context.Context, node NodeID, leaseKey string, epoch uint64) error {
	if node.IsZero() {
		return nil
	}
	key := indexKey(node, leaseKey)
	e, err := a.kv.store.Get(ctx, key)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cleanup index %q: %w", key, err)
	}
	idx, err := decodeIndex(e.Value)
	if err != nil {
		return fmt.Errorf("decode index %q: %w", key, err)
	}
	if idx.Epoch > epoch {
		return nil
	}
	err = a.kv.store.Delete(ctx, key, driver.MatchVersion(e.Version))
	if err != nil && !errors.Is(err, ErrConflict) && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("cleanup index %q: %w", key, err)
	}
	return nil
}

// pruneIndex deletes index entry e (conditional on its version) if no live
// lease and no in-flight placement can need it.
func (a *addressables) pruneIndex(ctx context.Context, e driver.Entry, now time.Time) error {
	node, lkey, ok := splitIndexKey(e.Key)
	if !ok {
		return nil
	}
	idx, err := decodeIndex(e.Value)
	if err != nil {
		return fmt.Errorf("decode index %q: %w", e.Key, err)
	}
	rec, _, found, err := a.read(ctx, lkey)
	if err != nil {
		return err
	}
	// The holder's entry is kept as long as its lease record is (until the
	// record is dead for EpochGrace), so that a clock running ahead on the
	// cleaning server cannot drop the entry of a lease its holder renews.
	horizon := now.Add(-a.opt.epochGrace)
	old := !idx.WrittenAt.After(now.Add(-a.opt.indexGrace))
	var stale bool
	switch {
	case found && rec.Node == node && !rec.Released && rec.ExpiresAt.After(horizon):
		stale = false
	case found && rec.Epoch >= idx.Epoch:
		stale = true // the placement that wrote it has ended or can no longer succeed
	default:
		stale = old // a placement may still be in flight; wait for the grace
	}
	if !stale {
		return nil
	}
	err = a.kv.store.Delete(ctx, e.Key, driver.MatchVersion(e.Version))
	if err != nil && !errors.Is(err, ErrConflict) && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("cleanup index %q: %w", e.Key, err)
	}
	return nil
}

// splitIndexKey parses "x/<ns>/<node>/<lease key>".
func splitIndexKey(k string) (NodeID, string, bool) {
	rest, ok := strings.CutPrefix(k, indexPrefix)
	if !ok {
		return NodeID{}, "", false
	}
	ns, rest, ok1 := strings.Cut(rest, "/")
	nk, lkey, ok2 := strings.Cut(rest, "/")
	if !ok1 || !ok2 {
		return NodeID{}, "", false
	}
	var id NodeID
	var err error
	if id.Namespace, err = unescape(ns); err != nil {
		return NodeID{}, "", false
	}
	if id.Key, err = unescape(nk); err != nil {
		return NodeID{}, "", false
	}
	return id, lkey, true
}

// forEach visits every entry under prefix, page by page.
func (a *addressables) forEach(ctx context.Context, prefix string, fn func(driver.Entry) error) error {
	return forEachEntry(ctx, a.kv.store, prefix, fn)
}

func forEachEntry(ctx context.Context, s driver.Store, prefix string, fn func(driver.Entry) error) error {
	after := ""
	for {
		page, err := s.List(ctx, prefix, driver.ListOptions{StartAfter: after, Limit: DefaultPageSize})
		if err != nil {
			return fmt.Errorf("list %q: %w", prefix, err)
		}
		for _, e := range page.Entries {
			if err := fn(e); err != nil {
				return err
			}
			after = e.Key
		}
		if !page.More || len(page.Entries) == 0 {
			return nil
		}
	}
}
