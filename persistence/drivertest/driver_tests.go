package drivertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orbit-go/orbit/persistence/driver"
)

func (h Harness) runDriverTests(t *testing.T) {
	t.Run("GetPutDelete", h.testGetPutDelete)
	t.Run("Conditions", h.testConditions)
	t.Run("RacingCreateOnly", h.testRacingCreateOnly)
	t.Run("RacingIfVersion", h.testRacingIfVersion)
	t.Run("ListOrderAndPrefix", h.testListOrderAndPrefix)
	t.Run("ListPagination", h.testListPagination)
	t.Run("Closed", h.testClosed)
	if h.claims(driver.CapTransactions) {
		t.Run("TxnAtomic", h.testTxnAtomic)
		t.Run("TxnRacing", h.testTxnRacing)
	}
	if h.claims(driver.CapWatch) {
		t.Run("Watch", h.testWatch)
	}
	if h.claims(driver.CapHealth) {
		t.Run("HealthChecker", h.testHealthChecker)
	}
	if h.claims(driver.CapExpiry) {
		t.Run("ExpiresEntries", h.testNativeExpiry)
	}
	if h.claims(driver.CapBatch) {
		t.Run("Batch", h.testBatch)
	}
	if h.claims(driver.CapExpiryIndex) {
		t.Run("ExpiryIndex", h.testExpiryIndex)
	}
	if h.claims(driver.CapIndex) {
		t.Run("Index", h.testIndex)
		if h.claims(driver.CapTransactions) {
			t.Run("IndexInTxn", h.testIndexTxn)
		}
	}
}

func listLabel(t *testing.T, ix driver.Indexer, label string, limit int) []string {
	t.Helper()
	var keys []string
	after := ""
	for i := 0; ; i++ {
		if i > 1000 {
			t.Fatal("index listing does not end")
		}
		p, err := ix.ListIndex(bg, label, driver.ListOptions{StartAfter: after, Limit: limit})
		if err != nil {
			t.Fatal(err)
		}
		if limit > 0 && len(p.Entries) > limit {
			t.Fatalf("index page of %d entries exceeds limit %d", len(p.Entries), limit)
		}
		keys = append(keys, entryKeys(p.Entries)...)
		if !p.More || len(p.Entries) == 0 {
			return keys
		}
		after = p.Entries[len(p.Entries)-1].Key
	}
}

func (h Harness) testIndex(t *testing.T) {
	s := h.MakeStore(t)
	ix := s.(driver.Indexer)
	for i := 0; i < 30; i++ {
		label := "L1"
		if i%3 == 0 {
			label = "L2"
		}
		if _, err := ix.PutWithOptions(bg, fmt.Sprintf("ix/%02d", i), []byte(fmt.Sprint(i)), driver.CreateOnly(), driver.PutOptions{Label: label}); err != nil {
			t.Fatal(err)
		}
	}
	l2 := listLabel(t, ix, "L2", 3)
	if len(l2) != 10 || l2[0] != "ix/00" || l2[9] != "ix/27" {
		t.Fatalf("ListIndex(L2) = %v", l2)
	}
	if got := listLabel(t, ix, "L1", 0); len(got) != 20 {
		t.Fatalf("ListIndex(L1) = %d keys, want 20", len(got))
	}
	p, err := ix.ListIndex(bg, "L2", driver.ListOptions{})
	if err != nil || len(p.Entries) != 10 || string(p.Entries[1].Value) != "3" || p.Entries[1].Version.IsZero() {
		t.Fatalf("ListIndex entries carry values and versions: %+v, %v", p.Entries, err)
	}
	// Conditions hold on PutWithOptions.
	if _, err := ix.PutWithOptions(bg, "ix/00", []byte("x"), driver.CreateOnly(), driver.PutOptions{Label: "L1"}); !errors.Is(err, driver.ErrConflict) {
		t.Fatalf("PutWithOptions create-only on an existing key = %v, want ErrConflict", err)
	}
	// Relabel, unlabel by plain Put, delete.
	e, _ := s.Get(bg, "ix/00")
	if _, err := ix.PutWithOptions(bg, "ix/00", []byte("moved"), driver.MatchVersion(e.Version), driver.PutOptions{Label: "L1"}); err != nil {
		t.Fatal(err)
	}
	mustPut(t, s, "ix/03", "plain", driver.Unconditional())
	if err := s.Delete(bg, "ix/06", driver.Unconditional()); err != nil {
		t.Fatal(err)
	}
	if got := listLabel(t, ix, "L2", 0); len(got) != 7 || got[0] != "ix/09" {
		t.Fatalf("ListIndex(L2) after relabel/unlabel/delete = %v", got)
	}
	if got := listLabel(t, ix, "L1", 0); len(got) != 21 || got[0] != "ix/00" {
		t.Fatalf("ListIndex(L1) after relabel = %v", got)
	}
	if got := listLabel(t, ix, "none", 0); len(got) != 0 {
		t.Fatalf("ListIndex(unknown label) = %v", got)
	}
}

func (h Harness) testIndexTxn(t *testing.T) {
	s := h.MakeStore(t)
	ix := s.(driver.Indexer)
	tx := s.(driver.Transactional)
	if _, err := tx.Txn(bg, []driver.Op{
		{Kind: driver.OpPut, Key: "it/a", Value: []byte("a"), Cond: driver.CreateOnly(), Label: "T"},
		{Kind: driver.OpPut, Key: "it/b", Value: []byte("b"), Cond: driver.CreateOnly(), Label: "T"},
	}); err != nil {
		t.Fatal(err)
	}
	if got := listLabel(t, ix, "T", 0); fmt.Sprint(got) != "[it/a it/b]" {
		t.Fatalf("labels set in a Txn: %v", got)
	}
	// A failed Txn changes no label.
	if _, err := tx.Txn(bg, []driver.Op{
		{Kind: driver.OpPut, Key: "it/a", Value: []byte("a"), Cond: driver.Unconditional(), Label: "U"},
		{Kind: driver.OpPut, Key: "it/b", Value: []byte("b"), Cond: driver.CreateOnly(), Label: "U"},
	}); !errors.Is(err, driver.ErrConflict) {
		t.Fatalf("Txn with a failing condition = %v", err)
	}
	if got := listLabel(t, ix, "U", 0); len(got) != 0 {
		t.Fatalf("a failed Txn labelled %v", got)
	}
	if _, err := tx.Txn(bg, []driver.Op{{Kind: driver.OpDelete, Key: "it/a", Cond: driver.Unconditional()}}); err != nil {
		t.Fatal(err)
	}
	if got := listLabel(t, ix, "T", 0); fmt.Sprint(got) != "[it/b]" {
		t.Fatalf("label after Txn delete: %v", got)
	}
}

var bg = context.Background()

func mustPut(t *testing.T, s driver.Store, key, val string, cond driver.Condition) driver.Version {
	t.Helper()
	v, err := s.Put(bg, key, []byte(val), cond)
	if err != nil {
		t.Fatalf("Put(%q, %s): %v", key, cond, err)
	}
	if v.IsZero() {
		t.Fatalf("Put(%q) returned the zero version", key)
	}
	return v
}

func (h Harness) testGetPutDelete(t *testing.T) {
	s := h.MakeStore(t)
	if _, err := s.Get(bg, "t/missing"); !errors.Is(err, driver.ErrNotFound) {
		t.Fatalf("Get(missing) = %v, want ErrNotFound", err)
	}
	v1 := mustPut(t, s, "t/k", "one", driver.Unconditional())
	e, err := s.Get(bg, "t/k")
	if err != nil || string(e.Value) != "one" || e.Version != v1 || e.Key != "t/k" {
		t.Fatalf("Get = %+v, %v; want value one at version %s", e, err, v1)
	}
	v2 := mustPut(t, s, "t/k", "two", driver.Unconditional())
	if v2 == v1 {
		t.Fatalf("version did not change on overwrite: %s", v2)
	}
	bin := []byte{0, 1, 2, 255, 254}
	if _, err := s.Put(bg, "t/bin", bytes.Clone(bin), driver.Unconditional()); err != nil {
		t.Fatal(err)
	}
	if e, err := s.Get(bg, "t/bin"); err != nil || !bytes.Equal(e.Value, bin) {
		t.Fatalf("binary value round trip = %v, %v", e.Value, err)
	}
	if err := s.Delete(bg, "t/k", driver.Unconditional()); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := s.Get(bg, "t/k"); !errors.Is(err, driver.ErrNotFound) {
		t.Fatalf("Get after Delete = %v, want ErrNotFound", err)
	}
	if err := s.Delete(bg, "t/k", driver.Unconditional()); err != nil {
		t.Fatalf("Delete(absent, always) = %v, want nil", err)
	}
	// A deleted and re-created key never reuses an old version.
	v3 := mustPut(t, s, "t/k", "three", driver.CreateOnly())
	if v3 == v1 || v3 == v2 {
		t.Fatalf("re-created key reused version %s", v3)
	}
}

func (h Harness) testConditions(t *testing.T) {
	s := h.MakeStore(t)
	v1 := mustPut(t, s, "c/k", "one", driver.CreateOnly())
	if _, err := s.Put(bg, "c/k", []byte("x"), driver.CreateOnly()); !errors.Is(err, driver.ErrConflict) {
		t.Fatalf("CreateOnly on existing key = %v, want ErrConflict", err)
	}
	v2 := mustPut(t, s, "c/k", "two", driver.MatchVersion(v1))
	if _, err := s.Put(bg, "c/k", []byte("x"), driver.MatchVersion(v1)); !errors.Is(err, driver.ErrConflict) {
		t.Fatalf("Put with stale version = %v, want ErrConflict", err)
	}
	if _, err := s.Put(bg, "c/absent", []byte("x"), driver.MatchVersion(v2)); !errors.Is(err, driver.ErrConflict) {
		t.Fatalf("Put IfVersion on absent key = %v, want ErrConflict", err)
	}
	if err := s.Delete(bg, "c/k", driver.MatchVersion(v1)); !errors.Is(err, driver.ErrConflict) {
		t.Fatalf("Delete with stale version = %v, want ErrConflict", err)
	}
	if e, _ := s.Get(bg, "c/k"); string(e.Value) != "two" {
		t.Fatalf("failed conditions changed the value to %q", e.Value)
	}
	if err := s.Delete(bg, "c/absent", driver.MatchVersion(v2)); !errors.Is(err, driver.ErrConflict) {
		t.Fatalf("Delete IfVersion on absent key = %v, want ErrConflict", err)
	}
	if err := s.Delete(bg, "c/k", driver.MatchVersion(v2)); err != nil {
		t.Fatalf("Delete with current version: %v", err)
	}
}

// race runs fn in n goroutines released at once and returns how many succeeded.
func race(n int, fn func(i int) error) (wins int, errs []error) {
	var wg sync.WaitGroup
	var won atomic.Int64
	start := make(chan struct{})
	errCh := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			if err := fn(i); err != nil {
				errCh <- err
				return
			}
			won.Add(1)
		}(i)
	}
	close(start)
	wg.Wait()
	close(errCh)
	for err := range errCh {
		errs = append(errs, err)
	}
	return int(won.Load()), errs
}

func (h Harness) testRacingCreateOnly(t *testing.T) {
	s := h.MakeStore(t)
	for round := 0; round < 20; round++ {
		key := fmt.Sprintf("r/create-%d", round)
		wins, errs := race(h.Racers, func(i int) error {
			_, err := s.Put(bg, key, []byte(fmt.Sprint(i)), driver.CreateOnly())
			return err
		})
		if wins != 1 {
			t.Fatalf("round %d: %d create-only writers won, want exactly 1", round, wins)
		}
		for _, err := range errs {
			if !errors.Is(err, driver.ErrConflict) {
				t.Fatalf("round %d: loser got %v, want ErrConflict", round, err)
			}
		}
	}
}

func (h Harness) testRacingIfVersion(t *testing.T) {
	s := h.MakeStore(t)
	v := mustPut(t, s, "r/cas", "0", driver.Unconditional())
	for round := 0; round < 20; round++ {
		var winner driver.Version
		var mu sync.Mutex
		wins, errs := race(h.Racers, func(i int) error {
			nv, err := s.Put(bg, "r/cas", []byte(fmt.Sprint(round, i)), driver.MatchVersion(v))
			if err == nil {
				mu.Lock()
				winner = nv
				mu.Unlock()
			}
			return err
		})
		if wins != 1 {
			t.Fatalf("round %d: %d compare-and-swap writers won, want exactly 1", round, wins)
		}
		for _, err := range errs {
			if !errors.Is(err, driver.ErrConflict) {
				t.Fatalf("round %d: loser got %v, want ErrConflict", round, err)
			}
		}
		v = winner
	}
}

func (h Harness) testListOrderAndPrefix(t *testing.T) {
	s := h.MakeStore(t)
	keys := []string{"l/b", "l/a", "l/c/1", "l/c/0", "l0", "m/a", "l/", "k/z"}
	for _, k := range keys {
		mustPut(t, s, k, "v:"+k, driver.Unconditional())
	}
	page, err := s.List(bg, "l/", driver.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"l/", "l/a", "l/b", "l/c/0", "l/c/1"}
	got := entryKeys(page.Entries)
	if fmt.Sprint(got) != fmt.Sprint(want) || page.More {
		t.Fatalf("List(l/) = %v more=%v, want %v more=false", got, page.More, want)
	}
	for _, e := range page.Entries {
		if string(e.Value) != "v:"+e.Key || e.Version.IsZero() {
			t.Fatalf("List entry %q has value %q version %s", e.Key, e.Value, e.Version)
		}
	}
	page, err = s.List(bg, "l/", driver.ListOptions{StartAfter: "l/b"})
	if err != nil || fmt.Sprint(entryKeys(page.Entries)) != "[l/c/0 l/c/1]" {
		t.Fatalf("List(l/, after l/b) = %v, %v", entryKeys(page.Entries), err)
	}
	page, err = s.List(bg, "nothing/", driver.ListOptions{})
	if err != nil || len(page.Entries) != 0 || page.More {
		t.Fatalf("List(empty prefix) = %v more=%v, %v", entryKeys(page.Entries), page.More, err)
	}
}

func entryKeys(es []driver.Entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Key
	}
	return out
}

func (h Harness) testListPagination(t *testing.T) {
	s := h.MakeStore(t)
	const n = 250
	for i := 0; i < n; i++ {
		mustPut(t, s, fmt.Sprintf("p/%04d", i), "x", driver.Unconditional())
	}
	mustPut(t, s, "q/after", "x", driver.Unconditional())
	var got []string
	after := ""
	for pages := 0; ; pages++ {
		if pages > n {
			t.Fatal("pagination does not end")
		}
		page, err := s.List(bg, "p/", driver.ListOptions{StartAfter: after, Limit: 7})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Entries) > 7 {
			t.Fatalf("page of %d entries exceeds limit 7", len(page.Entries))
		}
		if len(page.Entries) == 0 && page.More {
			t.Fatal("empty page with More=true")
		}
		got = append(got, entryKeys(page.Entries)...)
		if !page.More {
			break
		}
		after = page.Entries[len(page.Entries)-1].Key
	}
	if len(got) != n {
		t.Fatalf("paginated listing returned %d keys, want %d", len(got), n)
	}
	for i, k := range got {
		if k != fmt.Sprintf("p/%04d", i) {
			t.Fatalf("key %d = %q, want p/%04d", i, k, i)
		}
	}
}

func (h Harness) testClosed(t *testing.T) {
	s := h.MakeStore(t)
	if err := s.Close(bg); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := s.Get(bg, "x/y"); !errors.Is(err, driver.ErrClosed) {
		t.Fatalf("Get after Close = %v, want ErrClosed", err)
	}
	if _, err := s.Put(bg, "x/y", []byte("v"), driver.Unconditional()); !errors.Is(err, driver.ErrClosed) {
		t.Fatalf("Put after Close = %v, want ErrClosed", err)
	}
	if err := s.Close(bg); !errors.Is(err, driver.ErrClosed) {
		t.Fatalf("second Close = %v, want ErrClosed", err)
	}
}

func (h Harness) testTxnAtomic(t *testing.T) {
	s := h.MakeStore(t)
	tx := s.(driver.Transactional)
	if tx.MaxTxnOps() < 3 {
		t.Fatalf("MaxTxnOps = %d, need at least 3 for the lease logic", tx.MaxTxnOps())
	}
	va := mustPut(t, s, "t/a", "a0", driver.Unconditional())
	vb := mustPut(t, s, "t/b", "b0", driver.Unconditional())
	// One stale condition: nothing applies.
	_, err := tx.Txn(bg, []driver.Op{
		{Kind: driver.OpPut, Key: "t/a", Value: []byte("a1"), Cond: driver.MatchVersion(va)},
		{Kind: driver.OpPut, Key: "t/new", Value: []byte("n1"), Cond: driver.CreateOnly()},
		{Kind: driver.OpDelete, Key: "t/b", Cond: driver.MatchVersion(va)}, // wrong version
	})
	if !errors.Is(err, driver.ErrConflict) {
		t.Fatalf("Txn with a stale condition = %v, want ErrConflict", err)
	}
	if e, _ := s.Get(bg, "t/a"); string(e.Value) != "a0" {
		t.Fatalf("failed Txn applied a write: t/a = %q", e.Value)
	}
	if _, err := s.Get(bg, "t/new"); !errors.Is(err, driver.ErrNotFound) {
		t.Fatalf("failed Txn created t/new: %v", err)
	}
	// A failed OpCheck alone aborts too.
	_, err = tx.Txn(bg, []driver.Op{
		{Kind: driver.OpPut, Key: "t/a", Value: []byte("a1"), Cond: driver.MatchVersion(va)},
		{Kind: driver.OpCheck, Key: "t/c", Cond: driver.MatchVersion(vb)},
	})
	if !errors.Is(err, driver.ErrConflict) {
		t.Fatalf("Txn with a failing check = %v, want ErrConflict", err)
	}
	vs, err := tx.Txn(bg, []driver.Op{
		{Kind: driver.OpPut, Key: "t/a", Value: []byte("a1"), Cond: driver.MatchVersion(va)},
		{Kind: driver.OpPut, Key: "t/new", Value: []byte("n1"), Cond: driver.CreateOnly()},
		{Kind: driver.OpDelete, Key: "t/b", Cond: driver.MatchVersion(vb)},
		{Kind: driver.OpCheck, Key: "t/none", Cond: driver.CreateOnly()},
	})
	if err != nil {
		t.Fatalf("Txn: %v", err)
	}
	if len(vs) != 4 {
		t.Fatalf("Txn returned %d versions for 4 ops", len(vs))
	}
	if e, err := s.Get(bg, "t/a"); err != nil || string(e.Value) != "a1" || e.Version != vs[0] {
		t.Fatalf("t/a after Txn = %q %s, %v; want a1 at %s", e.Value, e.Version, err, vs[0])
	}
	if e, err := s.Get(bg, "t/new"); err != nil || string(e.Value) != "n1" {
		t.Fatalf("t/new after Txn = %q, %v", e.Value, err)
	}
	if _, err := s.Get(bg, "t/b"); !errors.Is(err, driver.ErrNotFound) {
		t.Fatalf("t/b after Txn delete = %v, want ErrNotFound", err)
	}
}

func (h Harness) testTxnRacing(t *testing.T) {
	s := h.MakeStore(t)
	tx := s.(driver.Transactional)
	// Racers move a token between two keys; exactly one wins each round and
	// the two keys always change together.
	va := mustPut(t, s, "tr/a", "0", driver.Unconditional())
	vb := mustPut(t, s, "tr/b", "0", driver.Unconditional())
	for round := 1; round <= 10; round++ {
		var mu sync.Mutex
		var nv []driver.Version
		wins, errs := race(h.Racers, func(i int) error {
			v := []byte(fmt.Sprint(round))
			out, err := tx.Txn(bg, []driver.Op{
				{Kind: driver.OpPut, Key: "tr/a", Value: v, Cond: driver.MatchVersion(va)},
				{Kind: driver.OpPut, Key: "tr/b", Value: v, Cond: driver.MatchVersion(vb)},
			})
			if err == nil {
				mu.Lock()
				nv = out
				mu.Unlock()
			}
			return err
		})
		if wins != 1 {
			t.Fatalf("round %d: %d transactions won, want 1", round, wins)
		}
		for _, err := range errs {
			if !errors.Is(err, driver.ErrConflict) {
				t.Fatalf("round %d: loser got %v", round, err)
			}
		}
		va, vb = nv[0], nv[1]
	}
}

func (h Harness) testWatch(t *testing.T) {
	s := h.MakeStore(t)
	w := s.(driver.Watcher)
	ctx, cancel := context.WithCancel(bg)
	ch, err := w.Watch(ctx, "w/")
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, s, "w/a", "1", driver.Unconditional())
	mustPut(t, s, "other/a", "1", driver.Unconditional())
	mustPut(t, s, "w/a", "2", driver.Unconditional())
	if err := s.Delete(bg, "w/a", driver.Unconditional()); err != nil {
		t.Fatal(err)
	}
	want := []struct {
		kind driver.EventKind
		val  string
	}{{driver.EventPut, "1"}, {driver.EventPut, "2"}, {driver.EventDelete, ""}}
	for i, wv := range want {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatalf("watch closed after %d events", i)
			}
			if ev.Kind != wv.kind || ev.Entry.Key != "w/a" || (wv.kind == driver.EventPut && string(ev.Entry.Value) != wv.val) {
				t.Fatalf("event %d = %+v, want kind %d value %q on w/a", i, ev, wv.kind, wv.val)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("event %d not delivered within 10s", i)
		}
	}
	cancel()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatal("watch channel not closed after its context ended")
		}
	}
}

func (h Harness) testHealthChecker(t *testing.T) {
	s := h.MakeStore(t)
	if got := s.(driver.HealthChecker).HealthCheck(bg); got.Status != driver.Healthy {
		t.Fatalf("fresh store health = %s (%s), want Healthy", got.Status, got.Reason)
	}
}

// testNativeExpiry: an entry is deleted natively some time after its
// ExpireAt, never before; an entry without a deadline stays. This test
// waits in real time (bounded to 60 s): it checks the backend's own expiry.
func (h Harness) testNativeExpiry(t *testing.T) {
	s := h.MakeStore(t)
	ex := s.(driver.Expirer)
	deadline := time.Now().Add(2 * time.Second)
	if _, err := ex.PutWithOptions(bg, "ttl/short", []byte("v"), driver.CreateOnly(), driver.PutOptions{ExpireAt: deadline}); err != nil {
		t.Fatal(err)
	}
	if _, err := ex.PutWithOptions(bg, "ttl/forever", []byte("v"), driver.CreateOnly(), driver.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	far := time.Now().Add(time.Hour)
	if _, err := ex.PutWithOptions(bg, "ttl/later", []byte("v"), driver.CreateOnly(), driver.PutOptions{ExpireAt: far}); err != nil {
		t.Fatal(err)
	}
	for {
		_, err := s.Get(bg, "ttl/short")
		if errors.Is(err, driver.ErrNotFound) {
			if time.Now().Before(deadline) {
				t.Fatal("entry deleted before its ExpireAt")
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if time.Since(deadline) > 60*time.Second {
			t.Fatal("entry still present 60 s after its ExpireAt")
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, k := range []string{"ttl/forever", "ttl/later"} {
		if _, err := s.Get(bg, k); err != nil {
			t.Fatalf("%s: %v (deleted although its deadline has not passed)", k, err)
		}
	}
}
