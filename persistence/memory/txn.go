package memory

import (
	"context"
	"fmt"
	"sort"

	"github.com/orbit-go/orbit/persistence/driver"
)

// MaxTxnOps is the most operations one transaction accepts.
const MaxTxnOps = 1024

func (s *Store) MaxTxnOps() int { return MaxTxnOps }

// Txn applies ops atomically: it locks every shard involved (in shard order,
// so concurrent transactions cannot deadlock), checks every condition, and
// only then applies every write.
func (s *Store) Txn(ctx context.Context, ops []driver.Op) ([]driver.Version, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	if len(ops) > MaxTxnOps {
		return nil, fmt.Errorf("memory store: transaction of %d operations exceeds %d: %w", len(ops), MaxTxnOps, driver.ErrInvalidArgument)
	}
	seen := make(map[string]bool, len(ops))
	idx := make([]int, 0, len(ops))
	hs := make([]uint64, 0, len(ops))
	for _, op := range ops {
		if seen[op.Key] {
			return nil, fmt.Errorf("memory store: key %q appears twice in one transaction: %w", op.Key, driver.ErrInvalidArgument)
		}
		seen[op.Key] = true
		if op.Kind != driver.OpPut && op.Kind != driver.OpDelete && op.Kind != driver.OpCheck {
			return nil, fmt.Errorf("memory store: unknown op kind %d for key %q: %w", op.Kind, op.Key, driver.ErrInvalidArgument)
		}
		if op.Kind == driver.OpPut {
			if err := checkSizes(op.Key, op.Value); err != nil {
				return nil, err
			}
		}
		h := s.hash(op.Key)
		hs = append(hs, h)
		idx = append(idx, s.shardIndex(h))
	}
	locks := append([]int(nil), idx...)
	sort.Ints(locks)
	locks = dedupe(locks)
	for _, i := range locks {
		s.shards[i].mu.Lock()
	}
	defer func() {
		for _, i := range locks {
			s.shards[i].mu.Unlock()
		}
	}()
	newCounted := 0
	for n, op := range ops {
		cur, exists := s.shards[idx[n]].get(hs[n], op.Key)
		if err := check(op.Key, cur, exists, op.Cond); err != nil {
			return nil, err
		}
		if op.Kind == driver.OpPut && !exists && s.counts(op.Key) {
			newCounted++
		}
		if op.Kind == driver.OpDelete && exists && s.counts(op.Key) {
			newCounted--
		}
	}
	if s.opts.MaxEntries > 0 && newCounted > 0 {
		if n := s.counted.Add(int64(newCounted)); n > int64(s.opts.MaxEntries) {
			s.counted.Add(-int64(newCounted))
			return nil, fmt.Errorf("memory store holds max_entries=%d entries: %w", s.opts.MaxEntries, driver.ErrCapacity)
		}
		newCounted = 0 // already accounted
	}
	// Readers do not lock: make the shards' sequence numbers odd while the
	// writes land, so that no read returns part of the transaction.
	for _, i := range locks {
		s.shards[i].beginTxn()
	}
	versions := make([]driver.Version, len(ops))
	for n, op := range ops {
		sh := &s.shards[idx[n]]
		cur, exists := sh.get(hs[n], op.Key)
		switch op.Kind {
		case driver.OpPut:
			versions[n] = driver.NumVersion(s.setLocked(sh, hs[n], op.Key, op.Value, op.Label, bucketOf(op.ExpireAt), cur))
		case driver.OpDelete:
			if exists {
				s.unlinkLocked(sh, hs[n], op.Key, cur)
			}
		case driver.OpCheck:
			if exists {
				versions[n] = driver.NumVersion(cur.version)
			}
		}
	}
	for _, i := range locks {
		s.shards[i].endTxn()
	}
	if s.opts.MaxEntries > 0 && newCounted < 0 {
		s.counted.Add(int64(newCounted)) // deletions free capacity
	}
	return versions, nil
}

func dedupe(a []int) []int {
	out := a[:0]
	for i, v := range a {
		if i == 0 || v != a[i-1] {
			out = append(out, v)
		}
	}
	return out
}
