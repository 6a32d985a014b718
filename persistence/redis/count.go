package redis

import (
	"context"

	"github.com/redis/rueidis"

	"github.com/orbit-go/orbit/persistence/driver"
)

var _ driver.Counter = (*Store)(nil)

// CountPrefix counts the keys under prefix (driver.Counter) with one
// ZLEXCOUNT per shard on the shard's order index (the sorted set every
// record's key is in): O(log n) on the server, no keys or values sent, one
// round trip per node (the shards' commands are pipelined).
//
// The order index keeps a record that Redis expired natively (PXAT, long
// after its lease stopped mattering) until a later write of its shard
// purges it, so the count may include such records for a while; a List
// skips them.
func (s *Store) CountPrefix(ctx context.Context, prefix string) (int64, error) {
	if err := s.checkOpen(); err != nil {
		return 0, err
	}
	lo, hi := "-", "+"
	if prefix != "" {
		lo, hi = "["+prefix, "("+prefix+"\xff"
	}
	var total int64
	err := s.retry(ctx, func(ctx context.Context) error {
		total = 0
		// Built on every attempt: the client recycles a command once sent.
		cmds := make(rueidis.Commands, len(s.orders))
		for i, z := range s.orders {
			cmds[i] = s.client.B().Zlexcount().Key(z).Min(lo).Max(hi).Build()
		}
		for _, r := range s.client.DoMulti(ctx, cmds...) {
			n, err := r.AsInt64()
			if err != nil {
				return err
			}
			total += n
		}
		return nil
	})
	if err != nil {
		return 0, s.wrap("count", prefix, err)
	}
	return total, nil
}
