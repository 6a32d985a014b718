package persistence

import (
	"context"
	"errors"
	"fmt"
)

// GetMany reads the leases of refs: with one GetMany per bulkBatchSize
// references on backends with driver.Batcher (a pipeline, a batch
// script), one Get each otherwise.
func (a *addressables) GetMany(ctx context.Context, refs []AddressableReference) ([]AddressableLease, error) {
	for i, ref := range refs {
		if err := ref.Validate(); err != nil {
			return nil, fmt.Errorf("refs[%d]: %w", i, err)
		}
	}
	out := make([]AddressableLease, len(refs))
	if a.kv.batch == nil {
		for i, ref := range refs {
			l, err := a.Get(ctx, ref)
			switch {
			case err == nil:
				out[i] = l
			case !errors.Is(err, ErrNotFound):
				return nil, err
			}
		}
		return out, nil
	}
	now := a.opt.clock.Now()
	for start := 0; start < len(refs); start += bulkBatchSize {
		end := min(start+bulkBatchSize, len(refs))
		keys := make([]string, 0, end-start)
		slot := make(map[string]int, end-start) // key -> index in keys
		at := make([]int, end-start)            // ref start+j -> index in keys
		for j, ref := range refs[start:end] {
			k := leaseKey(ref)
			s, ok := slot[k]
			if !ok {
				s = len(keys)
				slot[k] = s
				keys = append(keys, k)
			}
			at[j] = s
		}
		es, err := a.kv.batch.GetMany(ctx, keys)
		if err != nil {
			return nil, fmt.Errorf("read %d leases: %w", len(keys), err)
		}
		for j, ref := range refs[start:end] {
			e := es[at[j]]
			if e.Value == nil {
				continue
			}
			var l AddressableLease
			released, err := decodeLeaseInto(&l, ref, e.Value)
			if err != nil {
				return nil, fmt.Errorf("decode lease of %s: %w", ref, err)
			}
			if !released && l.Live(now) {
				out[start+j] = l
			}
		}
	}
	return out, nil
}
