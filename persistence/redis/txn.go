package redis

// This file holds transactions: txnStore, the single-shard Store that
// offers Txn.

import (
	"context"
	"fmt"

	"github.com/orbit-go/orbit/persistence/driver"
)

// txnStore is a Store with a single shard: it adds Txn.
type txnStore struct{ *Store }

// Txn applies ops atomically (one script on the single shard).
func (t txnStore) Txn(ctx context.Context, ops []driver.Op) ([]driver.Version, error) {
	if len(ops) == 0 {
		return nil, nil
	}
	if len(ops) > DefaultMaxTxnOps {
		return nil, fmt.Errorf("redis: transaction of %d operations exceeds %d: %w", len(ops), DefaultMaxTxnOps, driver.ErrInvalidArgument)
	}
	seen := make(map[string]struct{}, len(ops))
	for _, op := range ops {
		if _, dup := seen[op.Key]; dup {
			return nil, fmt.Errorf("redis: transaction names %q twice: %w", op.Key, driver.ErrInvalidArgument)
		}
		seen[op.Key] = struct{}{}
	}
	res, err := t.runOps(ctx, "txn", ops, true)
	if err != nil {
		return nil, err
	}
	vs := make([]driver.Version, len(res))
	for i, r := range res {
		vs[i] = r.Version
	}
	return vs, nil
}

// MaxTxnOps is the most operations one Txn accepts.
func (txnStore) MaxTxnOps() int { return DefaultMaxTxnOps }
