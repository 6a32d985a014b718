package redis

import (
	"cmp"
	"context"
	"fmt"
	"strconv"

	"github.com/redis/rueidis"

	"github.com/orbit-go/orbit/persistence/driver"
)

// batchChunk is the most operations (or keys) sent in one script call (or
// MGET) of a batch: large enough to amortize the call, small enough not to
// stall other clients of a single-threaded server.
const batchChunk = 256

// GetMany reads keys with one MGET per shard and chunk, pipelined.
func (s *Store) GetMany(ctx context.Context, keys []string) ([]driver.Entry, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	out := make([]driver.Entry, len(keys))
	groups := s.groupByShard(len(keys), func(i int) string { return keys[i] })
	var cmds rueidis.Commands
	var idx [][]int
	for sh, is := range groups {
		for start := 0; start < len(is); start += batchChunk {
			part := is[start:min(start+batchChunk, len(is))]
			rks := make([]string, len(part))
			for j, i := range part {
				rks[j] = s.recordKey(sh, keys[i])
			}
			cmds = append(cmds, s.client.B().Mget().Key(rks...).Build())
			idx = append(idx, part)
		}
	}
	err := s.retry(ctx, func(ctx context.Context) error {
		for c, r := range s.client.DoMulti(ctx, cmds...) {
			vals, err := r.ToArray()
			if err != nil {
				return err
			}
			for j, v := range vals {
				i := idx[c][j]
				out[i] = driver.Entry{Key: keys[i]}
				raw, err := v.ToString()
				if rueidis.IsRedisNil(err) {
					continue
				}
				if err != nil {
					return err
				}
				ver, _, value, err := decodeRecord(keys[i], raw)
				if err != nil {
					return err
				}
				out[i].Value, out[i].Version = bytesOf(value), driver.TagVersion(ver)
			}
		}
		return nil
	})
	if err != nil {
		return nil, s.wrap("get many", fmt.Sprintf("%d keys", len(keys)), err)
	}
	return out, nil
}

// ApplyMany applies ops with one script call per shard and chunk, pipelined.
func (s *Store) ApplyMany(ctx context.Context, ops []driver.Op) ([]driver.OpResult, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	for _, op := range ops {
		if op.Kind != driver.OpPut && op.Kind != driver.OpDelete {
			return nil, fmt.Errorf("redis: apply many: %q: only puts and deletes: %w", op.Key, driver.ErrInvalidArgument)
		}
	}
	groups := s.groupByShard(len(ops), func(i int) string { return ops[i].Key })
	var execs []rueidis.LuaExec
	var idx [][]int
	for sh, is := range groups {
		for start := 0; start < len(is); start += batchChunk {
			part := is[start:min(start+batchChunk, len(is))]
			keys := make([]string, 0, 3+len(part))
			keys = append(keys, s.orders[sh], s.counts[sh], s.exps[sh])
			args := make([]string, 0, 3+7*len(part))
			args = append(args, s.tags[sh], "e", strconv.Itoa(purgePerWrite))
			for _, i := range part {
				keys = append(keys, s.recordKey(sh, ops[i].Key))
				var err error
				if args, err = s.opArgs(args, ops[i], ""); err != nil {
					return nil, err
				}
			}
			execs = append(execs, rueidis.LuaExec{Keys: keys, Args: args})
			idx = append(idx, part)
		}
	}
	outs := make([][]string, len(execs))
	pending := make([]int, len(execs)) // chunks without a reply yet
	for c := range pending {
		pending[c] = c
	}
	first := true
	err := s.retry(ctx, func(ctx context.Context) error {
		send := make([]rueidis.LuaExec, len(pending))
		for j, c := range pending {
			if !first {
				execs[c].Args[1] = "r" // resent: puts recognize their operation ids
			}
			send[j] = execs[c]
		}
		first = false
		var lost []int
		var firstErr error
		for j, r := range opsScript.ExecMulti(ctx, s.client, send...) {
			out, err := r.AsStrSlice()
			if err != nil {
				lost = append(lost, pending[j])
				firstErr = cmp.Or(firstErr, err)
				continue
			}
			outs[pending[j]] = out
		}
		pending = lost
		return firstErr
	})
	if err != nil {
		return nil, s.wrap("apply many", fmt.Sprintf("%d operations", len(ops)), err)
	}
	res := make([]driver.OpResult, len(ops))
	for c, out := range outs {
		part := make([]driver.Op, len(idx[c]))
		for j, i := range idx[c] {
			part[j] = ops[i]
		}
		rs, err := s.opResults(part, out, false)
		if err != nil {
			return nil, err
		}
		for j, i := range idx[c] {
			res[i] = rs[j]
		}
	}
	return res, nil
}

// groupByShard returns the indexes 0..n-1 grouped by the shard of key(i),
// in input order within a shard.
func (s *Store) groupByShard(n int, key func(int) string) map[int][]int {
	groups := make(map[int][]int, len(s.tags))
	for i := range n {
		sh := s.shard(key(i))
		groups[sh] = append(groups[sh], i)
	}
	return groups
}
