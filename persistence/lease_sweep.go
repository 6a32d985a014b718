package persistence

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/orbit-go/orbit/persistence/driver"
)

// The sweep of dead lease records through the backend's expiry index: its
// cost follows what expired, not how many leases are stored.

// sweepParallelism bounds the deletes one sweep has in flight on backends
// without batches.
const sweepParallelism = 16

// sweepPage is how many due records one round of a sweep reads.
const sweepPage = 1000

// deadLease is a lease record the sweep found dead past its grace.
type deadLease struct {
	key string
	ver driver.Version
	rec leaseRecord
}

// sweepDue deletes the lease records dead since horizon or before, reading
// only the records the backend files as due. Every record is written with
// ExpireAt = kv.expireAt(ExpiresAt), so a record dead since horizon is filed
// at or before kv.expireAt(horizon). The backend may also return records
// filed up to its granularity later: they are decoded and left alone.
//
// ListExpiring has no cursor, so each round asks again for what is due and
// deletes it. A round that deletes nothing ends the sweep (what it was
// given is not dead yet, or was renewed meanwhile): every round but the
// last deletes at least one record, so the sweep ends. A record crowded
// out by more than sweepPage not-yet-dead ones of the same bucket waits for
// a later sweep, at most the backend's granularity.
func (a *addressables) sweepDue(ctx context.Context, horizon time.Time) (int, error) {
	before := a.kv.expireAt(horizon)
	removed := 0
	for {
		es, err := a.kv.expiryList.ListExpiring(ctx, leasePrefix, before, sweepPage)
		if err != nil {
			return removed, fmt.Errorf("list leases due to expire by %s: %w", before.UTC().Format(time.RFC3339), err)
		}
		dead := make([]deadLease, 0, len(es))
		for _, e := range es {
			rec, err := decodeLease(e.Key, e.Value)
			if err != nil {
				return removed, fmt.Errorf("decode lease %q: %w", e.Key, err)
			}
			if !rec.ExpiresAt.After(horizon) {
				dead = append(dead, deadLease{key: e.Key, ver: e.Version, rec: rec})
			}
		}
		n, err := a.deleteDead(ctx, dead)
		removed += n
		if err != nil || n == 0 || len(es) < sweepPage {
			return removed, err
		}
	}
}

// deleteDead deletes each dead record if it is still at the version read
// (a renewal or re-placement since wins), with its holder's index entry,
// and returns how many it deleted. It sends one batch where the backend
// has batches, else at most sweepParallelism deletes at a time.
func (a *addressables) deleteDead(ctx context.Context, dead []deadLease) (int, error) {
	if len(dead) == 0 {
		return 0, nil
	}
	if a.kv.batch != nil && a.kv.index != nil {
		return a.deleteDeadBatch(ctx, dead)
	}
	deleted := make([]bool, len(dead))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(sweepParallelism)
	for i, d := range dead {
		g.Go(func() error {
			ok, err := a.deleteOneDead(gctx, d)
			deleted[i] = ok
			return err
		})
	}
	err := g.Wait()
	n := 0
	for _, ok := range deleted {
		if ok {
			n++
		}
	}
	return n, err
}

// deleteDeadBatch deletes dead records in one batch of conditional deletes;
// the backend's native index drops each with its record.
func (a *addressables) deleteDeadBatch(ctx context.Context, dead []deadLease) (int, error) {
	ops := make([]driver.Op, len(dead))
	for i, d := range dead {
		ops[i] = driver.Op{Kind: driver.OpDelete, Key: d.key, Cond: driver.MatchVersion(d.ver)}
	}
	res, err := a.kv.batch.ApplyMany(ctx, ops)
	if err != nil {
		return 0, fmt.Errorf("cleanup %d leases: %w", len(ops), err)
	}
	n := 0
	for i, r := range res {
		switch {
		case r.Err == nil:
			n++
		case errors.Is(r.Err, ErrConflict), errors.Is(r.Err, ErrNotFound):
		default:
			return n, fmt.Errorf("cleanup lease %q: %w", dead[i].key, r.Err)
		}
	}
	return n, nil
}

// deleteOneDead deletes one dead record if it is still at the version read,
// and reports whether it did. Where the backend keeps index entries and has
// transactions, the holder's entry goes in the same transaction: the
// condition on the record proves no placement wrote a newer entry since.
func (a *addressables) deleteOneDead(ctx context.Context, d deadLease) (bool, error) {
	var err error
	if a.kv.txn != nil && a.kv.index == nil && !d.rec.Node.IsZero() {
		_, err = a.kv.txn.Txn(ctx, []driver.Op{
			{Kind: driver.OpDelete, Key: d.key, Cond: driver.MatchVersion(d.ver)},
			{Kind: driver.OpDelete, Key: indexKey(d.rec.Node, d.key), Cond: driver.Unconditional()},
		})
	} else {
		err = a.kv.store.Delete(ctx, d.key, driver.MatchVersion(d.ver))
	}
	switch {
	case err == nil:
	case errors.Is(err, ErrConflict), errors.Is(err, ErrNotFound):
		return false, nil
	default:
		return false, fmt.Errorf("cleanup lease %q: %w", d.key, err)
	}
	if a.kv.index != nil || a.kv.txn != nil {
		return true, nil // the index entry went with the record
	}
	return true, a.dropIndexUpTo(ctx, d.rec.Node, d.key, d.rec.Epoch)
}
