package redis

// This file holds the single-key operations: Get, and the write path (Put,
// PutWithOptions, Delete) with its fast paths create and update.

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/rueidis"

	"github.com/orbit-go/orbit/persistence/driver"
)

// Get returns the entry under key.
func (s *Store) Get(ctx context.Context, key string) (driver.Entry, error) {
	if err := s.checkOpen(); err != nil {
		return driver.Entry{}, err
	}
	rk := s.recordKey(s.shard(key), key)
	var raw string
	err := s.retry(ctx, func(ctx context.Context) error {
		var err error
		raw, err = s.client.Do(ctx, s.client.B().Get().Key(rk).Build()).ToString()
		return err
	})
	if rueidis.IsRedisNil(err) {
		return driver.Entry{}, fmt.Errorf("redis: get %q: %w", key, driver.ErrNotFound)
	}
	if err != nil {
		return driver.Entry{}, s.wrap("get", key, err)
	}
	ver, _, value, err := decodeRecord(key, raw)
	if err != nil {
		return driver.Entry{}, err
	}
	// The key may alias the caller's buffer and values are immutable
	// (driver contract): neither is copied.
	return driver.Entry{Key: key, Value: bytesOf(value), Version: driver.TagVersion(ver)}, nil
}

// Put writes value under key if cond holds.
func (s *Store) Put(ctx context.Context, key string, value []byte, cond driver.Condition) (driver.Version, error) {
	return s.PutWithOptions(ctx, key, value, cond, driver.PutOptions{})
}

// PutWithOptions is Put with an index label and a native deletion time.
func (s *Store) PutWithOptions(ctx context.Context, key string, value []byte, cond driver.Condition, opts driver.PutOptions) (driver.Version, error) {
	op := driver.Op{Kind: driver.OpPut, Key: key, Value: value, Cond: cond, Label: opts.Label, ExpireAt: opts.ExpireAt}
	opid, resent := "", false
	fast := s.update
	if cond.Kind == driver.IfAbsent {
		fast = s.create
	}
	if cond.Kind == driver.IfVersion || cond.Kind == driver.IfAbsent {
		if err := s.checkOpen(); err != nil {
			return driver.Version{}, err
		}
		ver, written, err := fast(ctx, op, &opid)
		switch {
		case written:
			return ver, nil
		case err != nil && !retryable(err):
			return driver.Version{}, s.wrap("put", key, err)
		case err != nil:
			// The reply was lost: the general script, in resend mode,
			// recognises the operation id if the write landed.
			resent = true
		}
	}
	res, err := s.runOpsAs(ctx, "put", []driver.Op{op}, false, []string{opid}, resent)
	if err != nil {
		return driver.Version{}, err
	}
	return res[0].Version, res[0].Err
}

// create tries the placement fast path (createSrc) for a create-only put
// with a label and an expiry time: it reports written when the record was
// created. Like update, it sets *opid to the new record's operation id,
// and does not apply, without an error, to other puts or when the key
// exists. On one creation in 16 it asks the general script to purge the
// expiry index, as the general script does itself.
func (s *Store) create(ctx context.Context, op driver.Op, opid *string) (driver.Version, bool, error) {
	if op.Label == "" || op.ExpireAt.IsZero() || strings.IndexByte(op.Label, 0) >= 0 {
		return driver.Version{}, false, nil
	}
	*opid = s.opID()
	da := deleteAfterMs(op.ExpireAt)
	bucket := expiryBucket(da)
	sh := s.shard(op.Key)
	out, err := createScript.Exec(ctx, s.client,
		[]string{s.recordKey(sh, op.Key), s.orders[sh], s.counts[sh], s.exps[sh], s.tags[sh] + ":l:" + op.Label},
		[]string{op.Key, recordAfterVersion(*opid, bucket, op.Label, op.Value), strconv.FormatInt(da, 10), bucket, op.Label}).ToArray()
	if err != nil {
		return driver.Version{}, false, err
	}
	if len(out) != 2 {
		return driver.Version{}, false, fmt.Errorf("redis %s: create script returned %d values: %w", s.addr, len(out), driver.ErrCorrupt)
	}
	ver, err := out[0].ToString()
	if err != nil || ver == "" {
		return driver.Version{}, false, err
	}
	if cn, _ := out[1].AsInt64(); cn%16 == 0 {
		s.purge(ctx, sh)
	}
	return driver.TagVersion(ver), true, nil
}

// purge has the general script remove due entries of shard sh's expiry
// index. It is housekeeping: a failure is left to the next one.
func (s *Store) purge(ctx context.Context, sh int) {
	_ = opsScript.Exec(ctx, s.client, []string{s.orders[sh], s.counts[sh], s.exps[sh]},
		[]string{s.tags[sh], "e", strconv.Itoa(purgePerWrite)}).Error()
}

// update tries the renewal fast path (updateSrc) for a put conditional on
// a version: it reports written when the record was replaced. It sets
// *opid to the operation id the new record carries, which the general
// script must reuse if the reply was lost. It does not apply, without an
// error, when the version is not one this driver can increment or the
// script finds the record changed.
func (s *Store) update(ctx context.Context, op driver.Op, opid *string) (driver.Version, bool, error) {
	tag := op.Cond.Version.Tag()
	dot := strings.LastIndexByte(tag, '.')
	if dot < 1 || strings.IndexByte(op.Label, 0) >= 0 {
		return driver.Version{}, false, nil
	}
	u, err := strconv.ParseUint(tag[dot+1:], 10, 64)
	if err != nil || u >= 1e15-1 || strings.IndexByte(tag[:dot], ':') >= 0 {
		return driver.Version{}, false, nil
	}
	*opid = s.opID()
	da := deleteAfterMs(op.ExpireAt)
	bucket := expiryBucket(da)
	next := tag[:dot+1] + strconv.FormatUint(u+1, 10)
	labelField := strconv.Itoa(len(op.Label)) + ":" + op.Label
	rk := s.recordKey(s.shard(op.Key), op.Key)
	n, err := updateScript.Exec(ctx, s.client, []string{rk},
		[]string{tag + ":", next + recordAfterVersion(*opid, bucket, op.Label, op.Value), bucket, labelField, strconv.FormatInt(da, 10)}).AsInt64()
	if err != nil {
		return driver.Version{}, false, err
	}
	return driver.TagVersion(next), n == 1, nil
}

// Delete removes key if cond holds.
func (s *Store) Delete(ctx context.Context, key string, cond driver.Condition) error {
	res, err := s.runOps(ctx, "delete", []driver.Op{{Kind: driver.OpDelete, Key: key, Cond: cond}}, false)
	if err != nil {
		return err
	}
	return res[0].Err
}
