package persistence

import (
	"context"
	"errors"
	"fmt"

	"github.com/orbit-go/orbit/persistence/driver"
)

// bulkBatchSize is how many items one round of a batched bulk operation
// reads and writes together.
const bulkBatchSize = 1000

// bulkPlan says how a batched bulk operation treats its items.
type bulkPlan struct {
	n int
	// item returns the reference of item i, or why it is invalid.
	item func(i int) (AddressableReference, error)
	// write decides item i from the stored entry e (zero Version = absent):
	// the conditional put to apply, ok = false for nothing to write, or
	// the item's failure.
	write func(i int, key string, e driver.Entry) (op driver.Op, ok bool, err error)
	// one is the one-by-one path: items whose condition failed (a
	// concurrent writer) or whose key repeats in a chunk.
	one func(ctx context.Context, i int) error
}

// runBatched is StoreBulk and RemoveBulk for backends with driver.Batcher
// and a native index (a lease is one labelled record): per chunk of
// bulkBatchSize, one GetMany, the decisions in memory, one ApplyMany.
func (a *addressables) runBatched(ctx context.Context, p bulkPlan) error {
	failures := map[int]error{}
	for start := 0; start < p.n; start += bulkBatchSize {
		end := min(start+bulkBatchSize, p.n)
		var idx, slow []int
		var keys []string
		seen := make(map[string]bool, end-start)
		for i := start; i < end; i++ {
			ref, err := p.item(i)
			if err != nil {
				failures[i] = err
				continue
			}
			k := leaseKey(ref)
			if seen[k] {
				slow = append(slow, i)
				continue
			}
			seen[k] = true
			idx, keys = append(idx, i), append(keys, k)
		}
		es, err := a.kv.batch.GetMany(ctx, keys)
		if err != nil {
			for _, i := range idx {
				ref, _ := p.item(i)
				failures[i] = fmt.Errorf("bulk read %s: %w", ref, err)
			}
			continue
		}
		ops := make([]driver.Op, 0, len(idx))
		opIdx := make([]int, 0, len(idx))
		for j, i := range idx {
			op, ok, err := p.write(i, keys[j], es[j])
			if err != nil {
				failures[i] = err
			}
			if ok {
				ops, opIdx = append(ops, op), append(opIdx, i)
			}
		}
		slow = append(slow, a.applyBatch(ctx, ops, opIdx, failures, p.item)...)
		for _, i := range slow {
			if err := p.one(ctx, i); err != nil {
				failures[i] = err
			}
		}
	}
	if len(failures) == 0 {
		return nil
	}
	return &BulkError{Total: p.n, Failures: failures}
}

// applyBatch applies ops (op j is item opIdx[j]), records failures, and
// returns the items whose condition failed, to be retried one by one.
func (a *addressables) applyBatch(ctx context.Context, ops []driver.Op, opIdx []int, failures map[int]error, item func(int) (AddressableReference, error)) []int {
	if len(ops) == 0 {
		return nil
	}
	res, err := a.kv.batch.ApplyMany(ctx, ops)
	var retry []int
	for j, i := range opIdx {
		ref, _ := item(i)
		switch {
		case err != nil:
			failures[i] = fmt.Errorf("bulk write %s: %w", ref, err)
		case res[j].Err == nil:
		case errors.Is(res[j].Err, ErrConflict):
			retry = append(retry, i)
		default:
			failures[i] = fmt.Errorf("bulk write %s: %w", ref, res[j].Err)
		}
	}
	return retry
}

// storeBulkBatched: the epoch rule is checked against the entry read; the
// put is conditional on its version (create-only when absent).
func (a *addressables) storeBulkBatched(ctx context.Context, leases []AddressableLease) error {
	return a.runBatched(ctx, bulkPlan{
		n:    len(leases),
		item: func(i int) (AddressableReference, error) { return leases[i].Reference, leases[i].Validate() },
		write: func(i int, key string, e driver.Entry) (driver.Op, bool, error) {
			lease := leases[i]
			cond := driver.CreateOnly()
			if !e.Version.IsZero() {
				prev, err := decodeLease(key, e.Value)
				if err != nil {
					return driver.Op{}, false, fmt.Errorf("store lease %s: decode stored lease: %w", lease.Reference, err)
				}
				if err := storeRule(prev, lease); err != nil {
					return driver.Op{}, false, err
				}
				cond = driver.MatchVersion(e.Version)
			}
			rec := leaseRecord{AddressableLease: lease}
			return driver.Op{Kind: driver.OpPut, Key: key, Value: encodeLease(rec), Cond: cond,
				Label: a.labels.of(rec), ExpireAt: a.kv.expireAt(lease.ExpiresAt)}, true, nil
		},
		one: func(ctx context.Context, i int) error { return a.Store(ctx, leases[i]) },
	})
}

// removeBulkBatched: records still held are rewritten as released, on the
// condition of the version read.
func (a *addressables) removeBulkBatched(ctx context.Context, refs []AddressableReference) error {
	now := a.opt.clock.Now()
	return a.runBatched(ctx, bulkPlan{
		n:    len(refs),
		item: func(i int) (AddressableReference, error) { return refs[i], refs[i].Validate() },
		write: func(i int, key string, e driver.Entry) (driver.Op, bool, error) {
			if e.Version.IsZero() {
				return driver.Op{}, false, nil
			}
			rec, err := decodeLease(key, e.Value)
			if err != nil {
				return driver.Op{}, false, fmt.Errorf("remove %s: decode stored lease: %w", refs[i], err)
			}
			if rec.Released {
				return driver.Op{}, false, nil
			}
			rec = released(rec, now)
			return driver.Op{Kind: driver.OpPut, Key: key, Value: encodeLease(rec), Cond: driver.MatchVersion(e.Version),
				Label: a.labels.of(rec), ExpireAt: a.kv.expireAt(rec.ExpiresAt)}, true, nil
		},
		one: func(ctx context.Context, i int) error { return a.Remove(ctx, refs[i]) },
	})
}
