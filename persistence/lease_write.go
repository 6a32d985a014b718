package persistence

import (
	"context"
	"fmt"

	"github.com/orbit-go/orbit/persistence/driver"
)

// The write protocol of a lease record and its per-node index entry.

// indexWrite says whether a lease write (re)writes its holder's index entry.
type indexWrite bool

const (
	writeIndex indexWrite = true  // placements, moves, stores, renewals on backends that expire entries
	keepIndex  indexWrite = false // the entry written at placement still covers the record
)

// writeLease installs rec under key if the record is still at ver (the zero
// Version: create-only), with its holder's index entry when idx says so.
// oldNode, if set and different, loses its index entry when the backend has
// transactions.
func (a *addressables) writeLease(ctx context.Context, key string, rec leaseRecord, ver driver.Version, oldNode NodeID, idx indexWrite) error {
	v, err := a.writeLeaseVersion(ctx, key, rec, ver, oldNode, idx)
	if err != nil {
		a.cache.drop(key)
		return err
	}
	a.cache.put(key, v, rec)
	return nil
}

func (a *addressables) writeLeaseVersion(ctx context.Context, key string, rec leaseRecord, ver driver.Version, oldNode NodeID, idx indexWrite) (driver.Version, error) {
	cond := driver.CreateOnly()
	if !ver.IsZero() {
		cond = driver.MatchVersion(ver)
	}
	val := encodeLease(rec)
	if a.kv.index != nil {
		// The backend labels the record with its holder atomically: no
		// separate index entries.
		return a.kv.put(ctx, key, val, cond, a.labels.of(rec), rec.ExpiresAt)
	}
	now := a.opt.clock.Now()
	idxVal := encodeIndex(indexRecord{Epoch: rec.Epoch, WrittenAt: now})
	after := a.kv.expireAt(rec.ExpiresAt)
	if a.kv.txn != nil {
		ops := make([]driver.Op, 0, 3)
		ops = append(ops, driver.Op{Kind: driver.OpPut, Key: key, Value: val, Cond: cond, ExpireAt: after})
		if idx == writeIndex {
			ops = append(ops, driver.Op{Kind: driver.OpPut, Key: indexKey(rec.Node, key), Value: idxVal,
				Cond: driver.Unconditional(), ExpireAt: after})
		}
		if !oldNode.IsZero() && (oldNode != rec.Node || idx == keepIndex) {
			ops = append(ops, driver.Op{Kind: driver.OpDelete, Key: indexKey(oldNode, key), Cond: driver.Unconditional()})
		}
		vs, err := a.kv.txn.Txn(ctx, ops)
		if err != nil || len(vs) == 0 {
			return driver.Version{}, err
		}
		return vs[0], nil
	}
	if idx == writeIndex {
		if _, err := a.kv.put(ctx, indexKey(rec.Node, key), idxVal, driver.Unconditional(), "", rec.ExpiresAt); err != nil {
			return driver.Version{}, fmt.Errorf("write node index: %w", err)
		}
	}
	return a.kv.put(ctx, key, val, cond, "", rec.ExpiresAt)
}
