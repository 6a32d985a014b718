package redis

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/redis/rueidis"

	"github.com/orbit-go/orbit/persistence/driver"
)

// ListExpiring returns up to limit entries under prefix whose delete-after
// time is at or before before, or up to one expiry bucket later
// (driver.ExpiryLister). It reads each shard's expiry index (ZRANGE BYSCORE,
// earliest bucket first) and the records it names (MGET), a chunk at a time;
// index members whose record has gone (natively expired, not yet purged)
// are skipped.
func (s *Store) ListExpiring(ctx context.Context, prefix string, before time.Time, limit int) ([]driver.Entry, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = driver.DefaultExpiringLimit
	}
	last := expiryBucket(deleteAfterMs(before))
	var out []driver.Entry
	for sh := range s.tags {
		var err error
		if out, err = s.dueOfShard(ctx, sh, prefix, last, limit, out); err != nil {
			return nil, s.wrap("list expiring", prefix, err)
		}
		if len(out) == limit {
			break
		}
	}
	return out, nil
}

// dueOfShard appends shard sh's due entries under prefix to out, until out
// holds limit entries or the shard has no more.
func (s *Store) dueOfShard(ctx context.Context, sh int, prefix, last string, limit int, out []driver.Entry) ([]driver.Entry, error) {
	for offset := int64(0); len(out) < limit; {
		var members []string
		err := s.retry(ctx, func(ctx context.Context) error {
			var err error
			members, err = s.client.Do(ctx, s.client.B().Zrange().Key(s.exps[sh]).Min("-inf").Max(last).
				Byscore().Limit(offset, batchChunk).Build()).AsStrSlice()
			return err
		})
		if err != nil {
			return out, err
		}
		offset += int64(len(members))
		keys := make([]string, 0, len(members))
		for _, m := range members {
			key, _, ok := strings.Cut(m, "\x00")
			if ok && strings.HasPrefix(key, prefix) {
				keys = append(keys, key)
			}
		}
		if out, err = s.readDue(ctx, sh, keys, limit, out); err != nil {
			return out, err
		}
		if len(members) < batchChunk {
			return out, nil
		}
	}
	return out, nil
}

// readDue appends the records of keys (all of shard sh) that exist to out,
// up to limit entries.
func (s *Store) readDue(ctx context.Context, sh int, keys []string, limit int, out []driver.Entry) ([]driver.Entry, error) {
	if len(keys) == 0 {
		return out, nil
	}
	rks := make([]string, len(keys))
	for i, k := range keys {
		rks[i] = s.recordKey(sh, k)
	}
	var vals []rueidis.RedisMessage
	err := s.retry(ctx, func(ctx context.Context) error {
		var err error
		vals, err = s.client.Do(ctx, s.client.B().Mget().Key(rks...).Build()).ToArray()
		return err
	})
	if err != nil {
		return out, err
	}
	if len(vals) != len(keys) {
		return out, fmt.Errorf("MGET of %d keys returned %d values", len(keys), len(vals))
	}
	for i, v := range vals {
		raw, err := v.ToString()
		if rueidis.IsRedisNil(err) {
			continue
		}
		if err != nil {
			return out, err
		}
		ver, _, value, err := decodeRecord(keys[i], raw)
		if err != nil {
			return out, err
		}
		if len(out) == limit {
			return out, nil
		}
		out = append(out, driver.Entry{Key: keys[i], Value: bytesOf(value), Version: driver.TagVersion(ver)})
	}
	return out, nil
}

// ExpiryGranularity is the width of the expiry index's buckets.
func (s *Store) ExpiryGranularity() time.Duration { return expiryBucketMs * time.Millisecond }
