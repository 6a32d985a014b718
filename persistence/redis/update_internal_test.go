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
		return s.PutWithOptions(ctx, op.Key, op.Value, op.Cond, driver.PutOptions{Label: op.Label, DeleteAfter: op.DeleteAfter})
	}
	v1, err := put(driver.Op{Key: "a/k", Value: []byte("one"), Cond: driver.CreateOnly(), Label: "node-1", DeleteAfter: base})
	if err != nil {
		t.Fatal(err)
	}
	renew := driver.Op{Kind: driver.OpPut, Key: "a/k", Value: []byte("two"), Cond: driver.MatchVersion(v1), Label: "node-1", DeleteAfter: base.Add(time.Second)}
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
		{"stale version", driver.Op{Cond: driver.MatchVersion(v1), Label: "node-1", DeleteAfter: base}},
		{"new label", driver.Op{Cond: driver.MatchVersion(v2), Label: "node-2", DeleteAfter: base}},
		{"next expiry bucket", driver.Op{Cond: driver.MatchVersion(v2), Label: "node-1", DeleteAfter: base.Add(expiryBucketMs * time.Millisecond)}},
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
	v3, err := put(driver.Op{Key: "a/k", Value: []byte("three"), Cond: driver.MatchVersion(v2), Label: "node-2", DeleteAfter: base})
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
