package drivertest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/orbit-go/orbit/persistence/driver"
)

// testBatch checks driver.Batcher: GetMany returns entries in order with a
// zero version for absent keys; ApplyMany applies each operation on its own
// (a failed condition fails only its operation), keeps labels, and a batch
// larger than any chunk a driver may use is applied whole.
func (h Harness) testBatch(t *testing.T) {
	s := h.MakeStore(t)
	b := s.(driver.Batcher)
	ctx := t.Context()
	v1 := mustPut(t, s, "b/one", "1", driver.Unconditional())
	mustPut(t, s, "b/two", "2", driver.Unconditional())

	es, err := b.GetMany(ctx, []string{"b/two", "b/none", "b/one"})
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 3 || es[0].Key != "b/two" || string(es[0].Value) != "2" || es[0].Version.IsZero() ||
		es[1].Key != "b/none" || !es[1].Version.IsZero() || es[1].Value != nil ||
		es[2].Key != "b/one" || string(es[2].Value) != "1" || es[2].Version != v1 {
		t.Fatalf("GetMany = %+v", es)
	}

	stale := driver.NumVersion(v1.Num() + 1000)
	if v1.Tag() != "" {
		stale = driver.TagVersion(v1.Tag() + "-stale")
	}
	ops := []driver.Op{
		{Kind: driver.OpPut, Key: "b/one", Value: []byte("1b"), Cond: driver.MatchVersion(v1), Label: "L"},
		{Kind: driver.OpPut, Key: "b/two", Value: []byte("2b"), Cond: driver.MatchVersion(stale)},
		{Kind: driver.OpPut, Key: "b/three", Value: []byte("3"), Cond: driver.CreateOnly(), Label: "L"},
		{Kind: driver.OpPut, Key: "b/one-again", Value: []byte("x"), Cond: driver.CreateOnly()},
		{Kind: driver.OpDelete, Key: "b/none", Cond: driver.MatchVersion(v1)},
	}
	res, err := b.ApplyMany(ctx, ops)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != len(ops) {
		t.Fatalf("ApplyMany returned %d results for %d ops", len(res), len(ops))
	}
	for i, want := range []bool{true, false, true, true, false} {
		if ok := res[i].Err == nil; ok != want {
			t.Fatalf("op %d (%s): err = %v, want success %v", i, ops[i].Key, res[i].Err, want)
		}
		if !want && !errors.Is(res[i].Err, driver.ErrConflict) {
			t.Fatalf("op %d: err = %v, want ErrConflict", i, res[i].Err)
		}
		if want && ops[i].Kind == driver.OpPut && res[i].Version.IsZero() {
			t.Fatalf("op %d: applied put returned the zero version", i)
		}
	}
	if e, err := s.Get(ctx, "b/one"); err != nil || string(e.Value) != "1b" || e.Version != res[0].Version {
		t.Fatalf("b/one after batch = %+v, %v; want 1b at %v", e, err, res[0].Version)
	}
	if e, err := s.Get(ctx, "b/two"); err != nil || string(e.Value) != "2" {
		t.Fatalf("b/two after a failed condition = %+v, %v; want unchanged", e, err)
	}
	if ix, ok := s.(driver.Indexer); ok {
		if got := listLabel(t, ix, "L", 0); fmt.Sprint(got) != "[b/one b/three]" {
			t.Fatalf("label L after batch = %v", got)
		}
	}

	// A large batch, with native expiry where the driver has it, then
	// deleted in one batch.
	const n = 2500
	big := make([]driver.Op, n)
	keys := make([]string, n)
	for i := range big {
		keys[i] = fmt.Sprintf("big/%05d", i)
		big[i] = driver.Op{Kind: driver.OpPut, Key: keys[i], Value: []byte(keys[i]), Cond: driver.CreateOnly(),
			Label: "big", ExpireAt: time.Now().Add(time.Hour)}
	}
	if res, err = b.ApplyMany(ctx, big); err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("big op %d: %v", i, r.Err)
		}
	}
	if got := countKeys(t, s, "big/"); got != n {
		t.Fatalf("after a batch of %d creates, List sees %d keys", n, got)
	}
	es, err = b.GetMany(ctx, keys)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range es {
		if e.Key != keys[i] || string(e.Value) != keys[i] || e.Version != res[i].Version {
			t.Fatalf("GetMany[%d] = %+v, want %s at %v", i, e, keys[i], res[i].Version)
		}
	}
	dels := make([]driver.Op, n)
	for i := range dels {
		dels[i] = driver.Op{Kind: driver.OpDelete, Key: keys[i], Cond: driver.MatchVersion(res[i].Version)}
	}
	if res, err = b.ApplyMany(ctx, dels); err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("big delete %d: %v", i, r.Err)
		}
	}
	if got := countKeys(t, s, "big/"); got != 0 {
		t.Fatalf("after deleting the batch, List sees %d keys", got)
	}
	if ix, ok := s.(driver.Indexer); ok {
		if got := listLabel(t, ix, "big", 0); len(got) != 0 {
			t.Fatalf("label big after deleting the batch lists %d keys", len(got))
		}
	}
}
