package persistence

import (
	"context"
	"errors"
	"fmt"

	"github.com/orbit-go/orbit/persistence/driver"
)

// bulkBatchSize is how many leases one round of a batched bulk operation
// reads and writes together.
const bulkBatchSize = 1000

// storeBulkBatched is StoreBulk for backends with driver.Batcher and a
// native index (a lease is one labelled record): per chunk, one GetMany,
// the epoch rule in memory, one ApplyMany of conditional puts. Items whose
// condition failed (a concurrent writer) or whose key repeats in the chunk
// go through Store, which retries its compare-and-swap.
func (a *addressables) storeBulkBatched(ctx context.Context, leases []AddressableLease) error {
	failures := map[int]error{}
	for start := 0; start < len(leases); start += bulkBatchSize {
		end := min(start+bulkBatchSize, len(leases))
		var idx []int
		var keys []string
		var slow []int
		seen := make(map[string]bool, end-start)
		for i := start; i < end; i++ {
			if err := leases[i].Validate(); err != nil {
				failures[i] = err
				continue
			}
			k := leaseKey(leases[i].Reference)
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
				failures[i] = fmt.Errorf("store lease %s: %w", leases[i].Reference, err)
			}
			continue
		}
		ops := make([]driver.Op, 0, len(idx))
		opIdx := make([]int, 0, len(idx))
		for j, i := range idx {
			lease := leases[i]
			cond := driver.CreateOnly()
			if !es[j].Version.IsZero() {
				prev, err := decodeLease(keys[j], es[j].Value)
				if err != nil {
					failures[i] = fmt.Errorf("store lease %s: decode stored lease: %w", lease.Reference, err)
					continue
				}
				if err := storeRule(prev, lease); err != nil {
					failures[i] = err
					continue
				}
				cond = driver.MatchVersion(es[j].Version)
			}
			rec := leaseRecord{AddressableLease: lease}
			ops = append(ops, driver.Op{Kind: driver.OpPut, Key: keys[j], Value: encodeLease(rec), Cond: cond,
				Label: leaseLabel(rec), DeleteAfter: a.kv.deleteAfter(lease.ExpiresAt)})
			opIdx = append(opIdx, i)
		}
		slow = append(slow, a.applyBatch(ctx, ops, opIdx, failures, func(i int) string { return leases[i].Reference.String() })...)
		for _, i := range slow {
			if err := a.Store(ctx, leases[i]); err != nil {
				failures[i] = err
			}
		}
	}
	return bulkResult(len(leases), failures)
}

// removeBulkBatched is RemoveBulk the same way: records still held are
// rewritten as released with a condition on the version read.
func (a *addressables) removeBulkBatched(ctx context.Context, refs []AddressableReference) error {
	failures := map[int]error{}
	for start := 0; start < len(refs); start += bulkBatchSize {
		end := min(start+bulkBatchSize, len(refs))
		var idx []int
		var keys []string
		var slow []int
		seen := make(map[string]bool, end-start)
		for i := start; i < end; i++ {
			if err := refs[i].Validate(); err != nil {
				failures[i] = err
				continue
			}
			k := leaseKey(refs[i])
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
				failures[i] = fmt.Errorf("remove %s: %w", refs[i], err)
			}
			continue
		}
		now := a.opt.clock.Now()
		ops := make([]driver.Op, 0, len(idx))
		opIdx := make([]int, 0, len(idx))
		for j, i := range idx {
			if es[j].Version.IsZero() {
				continue
			}
			rec, err := decodeLease(keys[j], es[j].Value)
			if err != nil {
				failures[i] = fmt.Errorf("remove %s: decode stored lease: %w", refs[i], err)
				continue
			}
			if rec.Released {
				continue
			}
			rec = released(rec, now)
			ops = append(ops, driver.Op{Kind: driver.OpPut, Key: keys[j], Value: encodeLease(rec),
				Cond: driver.MatchVersion(es[j].Version), Label: leaseLabel(rec), DeleteAfter: a.kv.deleteAfter(rec.ExpiresAt)})
			opIdx = append(opIdx, i)
		}
		slow = append(slow, a.applyBatch(ctx, ops, opIdx, failures, func(i int) string { return refs[i].String() })...)
		for _, i := range slow {
			if err := a.Remove(ctx, refs[i]); err != nil {
				failures[i] = err
			}
		}
	}
	return bulkResult(len(refs), failures)
}

// applyBatch applies ops (op j is item opIdx[j]), records failures, and
// returns the items whose condition failed, to be retried one by one.
func (a *addressables) applyBatch(ctx context.Context, ops []driver.Op, opIdx []int, failures map[int]error, name func(int) string) []int {
	if len(ops) == 0 {
		return nil
	}
	res, err := a.kv.batch.ApplyMany(ctx, ops)
	if err != nil {
		for _, i := range opIdx {
			failures[i] = fmt.Errorf("bulk write %s: %w", name(i), err)
		}
		return nil
	}
	var retry []int
	for j, r := range res {
		switch {
		case r.Err == nil:
		case errors.Is(r.Err, ErrConflict):
			retry = append(retry, opIdx[j])
		default:
			failures[opIdx[j]] = fmt.Errorf("bulk write %s: %w", name(opIdx[j]), r.Err)
		}
	}
	return retry
}

func bulkResult(n int, failures map[int]error) error {
	if len(failures) == 0 {
		return nil
	}
	return &BulkError{Total: n, Failures: failures}
}
