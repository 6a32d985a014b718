package redis

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/orbit-go/orbit/internal/testbackend/redistest"
	"github.com/orbit-go/orbit/persistence/config"
	"github.com/orbit-go/orbit/persistence/driver"
)

func openInternal(t *testing.T) *Store {
	t.Helper()
	srv := redistest.Start(t)
	c := config.DefaultRedisConfig()
	c.URL, c.RequestTimeout = srv.URL(), 30
	o, err := OptionsFromConfig(&c)
	if err != nil {
		t.Fatal(err)
	}
	s, err := open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	return s
}

// The renewal fast path (updateSrc) writes only when the record still has
// the expected version, label and expiry bucket; otherwise it writes
// nothing and the general script decides. A write whose reply was lost is
// recognised by the general script in resend mode through the operation id
// the fast path chose.
func TestUpdateFastPath(t *testing.T) {
	ctx := context.Background()
	s := openInternal(t)
	// A delete-after time in the middle of an expiry bucket, so that a
	// renewal a second later stays in the same bucket.
	base := time.UnixMilli((time.Now().Add(time.Hour).UnixMilli()/expiryBucketMs)*expiryBucketMs + expiryBucketMs/2)
	put := func(op driver.Op) (driver.Version, error) {
		return s.PutWithOptions(ctx, op.Key, op.Value, op.Cond, driver.PutOptions{Label: op.Label, ExpireAt: op.ExpireAt})
	}
	v1, err := put(driver.Op{Key: "a/k", Value: []byte("one"), Cond: driver.CreateOnly(), Label: "node-1", ExpireAt: base})
	if err != nil {
		t.Fatal(err)
	}
	renew := driver.Op{Kind: driver.OpPut, Key: "a/k", Value: []byte("two"), Cond: driver.MatchVersion(v1), Label: "node-1", ExpireAt: base.Add(time.Second)}
	var opid string
	v2, written, err := s.update(ctx, renew, &opid)
	if err != nil || !written {
		t.Fatalf("fast path on an unchanged record: written=%v err=%v", written, err)
	}
	e, err := s.Get(ctx, "a/k")
	if err != nil || string(e.Value) != "two" || e.Version != v2 || v2 == v1 {
		t.Fatalf("after the fast path: %q %v (err %v), want \"two\" at %v, not %v", e.Value, e.Version, err, v2, v1)
	}
	ttl, err := s.client.Do(ctx, s.client.B().Pexpiretime().Key(s.recordKey(0, "a/k")).Build()).AsInt64()
	if err != nil || ttl != base.Add(time.Second).UnixMilli() {
		t.Fatalf("PEXPIRETIME = %d (err %v), want %d", ttl, err, base.Add(time.Second).UnixMilli())
	}

	// The reply of that write "was lost": the general script, resent
	// with the same operation id, recognises it instead of reporting a
	// conflict (the record is no longer at v1).
	res, err := s.runOpsAs(ctx, "put", []driver.Op{renew}, false, []string{opid}, true)
	if err != nil || res[0].Err != nil || res[0].Version != v2 {
		t.Fatalf("resent write: %+v, %v; want recognised at %v", res, err, v2)
	}
	// Without resend mode it is a conflict, as it should be.
	if _, err := put(renew); !errors.Is(err, driver.ErrConflict) {
		t.Fatalf("stale version through PutWithOptions: %v, want ErrConflict", err)
	}

	// What the fast path must leave to the general script.
	for _, tc := range []struct {
		name string
		op   driver.Op
	}{
		{"stale version", driver.Op{Cond: driver.MatchVersion(v1), Label: "node-1", ExpireAt: base}},
		{"new label", driver.Op{Cond: driver.MatchVersion(v2), Label: "node-2", ExpireAt: base}},
		{"next expiry bucket", driver.Op{Cond: driver.MatchVersion(v2), Label: "node-1", ExpireAt: base.Add(expiryBucketMs * time.Millisecond)}},
		{"no expiry", driver.Op{Cond: driver.MatchVersion(v2), Label: "node-1"}},
	} {
		op := tc.op
		op.Kind, op.Key, op.Value = driver.OpPut, "a/k", []byte("three")
		if _, written, err := s.update(ctx, op, &opid); written || err != nil {
			t.Fatalf("%s: fast path wrote (%v) or failed (%v)", tc.name, written, err)
		}
		if e, _ := s.Get(ctx, "a/k"); string(e.Value) != "two" || e.Version != v2 {
			t.Fatalf("%s: record changed to %q %v", tc.name, e.Value, e.Version)
		}
	}
	// Through PutWithOptions, a new label goes to the general script,
	// which moves the index entry.
	v3, err := put(driver.Op{Key: "a/k", Value: []byte("three"), Cond: driver.MatchVersion(v2), Label: "node-2", ExpireAt: base})
	if err != nil {
		t.Fatal(err)
	}
	for label, want := range map[string]int{"node-1": 0, "node-2": 1} {
		page, err := s.ListIndex(ctx, label, driver.ListOptions{})
		if err != nil || len(page.Entries) != want {
			t.Fatalf("ListIndex(%s) = %d entries (err %v), want %d", label, len(page.Entries), err, want)
		}
	}
	if e, _ := s.Get(ctx, "a/k"); e.Version != v3 {
		t.Fatalf("version %v, want %v", e.Version, v3)
	}
}

// The placement fast path (createSrc) creates the record with its indexes
// as the general script would, leaves an existing key to the general
// script, and its lost reply is recognised when resent. Its purge request
// removes the index entries of records Redis has expired.
func TestCreateFastPath(t *testing.T) {
	ctx := context.Background()
	s := openInternal(t)
	later := time.Now().Add(time.Hour)
	op := driver.Op{Kind: driver.OpPut, Key: "a/new", Value: []byte("v"), Cond: driver.CreateOnly(), Label: "node-1", ExpireAt: later}
	var opid string
	v1, written, err := s.create(ctx, op, &opid)
	if err != nil || !written {
		t.Fatalf("create: written=%v err=%v", written, err)
	}
	e, err := s.Get(ctx, "a/new")
	if err != nil || string(e.Value) != "v" || e.Version != v1 {
		t.Fatalf("after create: %q %v (err %v), want \"v\" at %v", e.Value, e.Version, err, v1)
	}
	for label, want := range map[string]int{"node-1": 1, "node-2": 0} {
		if page, err := s.ListIndex(ctx, label, driver.ListOptions{}); err != nil || len(page.Entries) != want {
			t.Fatalf("ListIndex(%s) = %d entries (err %v), want %d", label, len(page.Entries), err, want)
		}
	}
	if page, err := s.List(ctx, "a/", driver.ListOptions{}); err != nil || len(page.Entries) != 1 || page.Entries[0].Version != v1 {
		t.Fatalf("List = %+v (err %v)", page.Entries, err)
	}
	exp, err := s.client.Do(ctx, s.client.B().Zscore().Key(s.exps[0]).Member("a/new\x00node-1").Build()).AsInt64()
	if err != nil || exp != (deleteAfterMs(later)+expiryBucketMs-1)/expiryBucketMs*expiryBucketMs {
		t.Fatalf("expiry index score = %d (err %v)", exp, err)
	}
	// The renewal fast path takes over from a record it created.
	renew := driver.Op{Kind: driver.OpPut, Key: "a/new", Value: []byte("w"), Cond: driver.MatchVersion(v1), Label: "node-1", ExpireAt: later}
	if _, written, err := s.update(ctx, renew, &opid); !written || err != nil {
		t.Fatalf("renewal of a created record: written=%v err=%v", written, err)
	}
	// An existing key: nothing written; through PutWithOptions, a conflict.
	if _, written, err := s.create(ctx, op, &opid); written || err != nil {
		t.Fatalf("create over an existing key: written=%v err=%v", written, err)
	}
	if _, err := s.PutWithOptions(ctx, op.Key, op.Value, op.Cond, driver.PutOptions{Label: op.Label, ExpireAt: op.ExpireAt}); !errors.Is(err, driver.ErrConflict) {
		t.Fatalf("create-only put over an existing key: %v, want ErrConflict", err)
	}
	// A lost reply, resent through the general script with the same id.
	op2 := op
	op2.Key = "a/lost"
	v2, written, err := s.create(ctx, op2, &opid)
	if !written || err != nil {
		t.Fatal(written, err)
	}
	res, err := s.runOpsAs(ctx, "put", []driver.Op{op2}, false, []string{opid}, true)
	if err != nil || res[0].Err != nil || res[0].Version != v2 {
		t.Fatalf("resent create: %+v, %v; want recognised at %v", res, err, v2)
	}
	// Puts the fast path leaves alone: no label, no expiry.
	for _, o := range []driver.Op{{Label: "", ExpireAt: later}, {Label: "node-1"}} {
		o.Kind, o.Key, o.Cond = driver.OpPut, "a/other", driver.CreateOnly()
		if _, written, err := s.create(ctx, o, &opid); written || err != nil {
			t.Fatalf("create of %+v: written=%v err=%v", o, written, err)
		}
	}
	// A record whose deletion time has passed: Redis drops it at once;
	// the purge removes its index entries.
	gone := op
	gone.Key, gone.ExpireAt = "a/gone", time.Now().Add(-time.Hour)
	if _, written, err := s.create(ctx, gone, &opid); !written || err != nil {
		t.Fatal(written, err)
	}
	inOrder := func() bool {
		_, err := s.client.Do(ctx, s.client.B().Zscore().Key(s.orders[0]).Member("a/gone").Build()).AsInt64()
		return err == nil
	}
	if !inOrder() {
		t.Fatal("the order index lacks the expired record before the purge")
	}
	s.purge(ctx, 0)
	if inOrder() {
		t.Fatal("the purge left the expired record in the order index")
	}
}
