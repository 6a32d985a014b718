package persistence

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/orbit-go/orbit/persistence/driver"
)

// Cleanup of dead lease records and of index entries nothing needs.

// CleanupExpired deletes lease records dead for at least EpochGrace (each
// delete conditional on the version read, so a concurrent renewal or
// re-placement wins) and the index entries that no placement can need.
//
// Its cost follows what expired where the backend lists entries by expiry
// (sweepDue); elsewhere it reads every lease record, and, on backends that
// keep index entries without transactions, every index entry.
func (a *addressables) CleanupExpired(ctx context.Context) (int, error) {
	now := a.opt.clock.Now()
	horizon := now.Add(-a.opt.epochGrace)
	var removed int
	var err error
	if a.kv.expiryList != nil {
		removed, err = a.sweepDue(ctx, horizon)
	} else {
		removed, err = a.sweepAll(ctx, horizon)
	}
	if err != nil || !a.keepsLooseIndex() {
		return removed, err
	}
	err = a.forEach(ctx, indexPrefix, func(e driver.Entry) error { return a.pruneIndex(ctx, e, now) })
	return removed, err
}

// sweepAll deletes the lease records dead since horizon or before, reading
// every lease record.
func (a *addressables) sweepAll(ctx context.Context, horizon time.Time) (int, error) {
	removed := 0
	err := a.forEach(ctx, leasePrefix, func(e driver.Entry) error {
		rec, err := decodeLease(e.Key, e.Value)
		if err != nil {
			return fmt.Errorf("decode lease %q: %w", e.Key, err)
		}
		if rec.ExpiresAt.After(horizon) {
			return nil
		}
		ok, err := a.deleteOneDead(ctx, deadLease{key: e.Key, ver: e.Version, rec: rec})
		if ok {
			removed++
		}
		return err
	})
	return removed, err
}

// keepsLooseIndex says whether index entries can outlive their lease
// records: the backend has no native index, and no transactions to write
// and delete an entry together with its record.
func (a *addressables) keepsLooseIndex() bool { return a.kv.index == nil && a.kv.txn == nil }

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
