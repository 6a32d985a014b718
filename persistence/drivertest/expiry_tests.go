package drivertest

import (
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/orbit-go/orbit/persistence/driver"
)

// testExpiryIndex checks driver.ExpiryLister: entries are listed by their
// ExpireAt, under a prefix, up to a limit; writes refile and deletes unfile.
// The times lie minutes ahead, so that a backend that also deletes entries
// natively (Expirer) deletes none of them during the test.
func (h Harness) testExpiryIndex(t *testing.T) {
	s := h.MakeStore(t)
	el := s.(driver.ExpiryLister)
	g := el.ExpiryGranularity()
	if g < 0 || g > 30*time.Minute {
		t.Fatalf("ExpiryGranularity = %v, want between 0 and 30 min", g)
	}
	base := time.Now().Add(10 * time.Minute).Truncate(time.Second)
	far := base.Add(time.Hour)
	putAt := func(key string, at time.Time) {
		t.Helper()
		if _, err := el.PutWithOptions(bg, key, []byte("v-"+key), driver.Unconditional(), driver.PutOptions{ExpireAt: at}); err != nil {
			t.Fatalf("PutWithOptions(%q, ExpireAt %s): %v", key, at, err)
		}
	}
	due := map[string]bool{} // what ListExpiring(ex/, before) must return
	for i := range 30 {
		k := fmt.Sprintf("ex/due/%02d", i)
		putAt(k, base.Add(time.Duration(i)*time.Second))
		due[k] = true
	}
	for i := range 10 {
		putAt(fmt.Sprintf("ex/far/%02d", i), far)
	}
	for i := range 5 {
		mustPut(t, s, fmt.Sprintf("ex/none/%02d", i), "plain", driver.Unconditional())
	}
	for i := range 3 {
		putAt(fmt.Sprintf("other/%d", i), base)
	}
	before := base.Add(29 * time.Second)
	list := func(limit int) []string {
		t.Helper()
		es, err := el.ListExpiring(bg, "ex/", before, limit)
		if err != nil {
			t.Fatalf("ListExpiring: %v", err)
		}
		keys := make([]string, 0, len(es))
		for _, e := range es {
			if !due[e.Key] {
				t.Fatalf("ListExpiring(ex/, %s) returned %q: not due by then, or outside the prefix", before, e.Key)
			}
			if string(e.Value) != "v-"+e.Key || e.Version.IsZero() {
				t.Fatalf("ListExpiring entry %q = value %q version %s, want its stored value and a version", e.Key, e.Value, e.Version)
			}
			cur, err := s.Get(bg, e.Key)
			if err != nil || cur.Version != e.Version {
				t.Fatalf("ListExpiring entry %q has version %s; Get says %s, %v", e.Key, e.Version, cur.Version, err)
			}
			keys = append(keys, e.Key)
		}
		sort.Strings(keys)
		return keys
	}
	if got := list(0); len(got) != len(due) {
		t.Fatalf("ListExpiring = %d entries %v, want the 30 due", len(got), got)
	}
	if got := list(7); len(got) != 7 {
		t.Fatalf("ListExpiring with limit 7 = %d entries, want 7", len(got))
	}
	// Delete unfiles; a plain Put unfiles; a later ExpireAt refiles later,
	// an earlier one earlier.
	if err := s.Delete(bg, "ex/due/00", driver.Unconditional()); err != nil {
		t.Fatal(err)
	}
	mustPut(t, s, "ex/due/01", "v-ex/due/01", driver.Unconditional())
	putAt("ex/due/02", far)
	putAt("ex/far/00", base)
	delete(due, "ex/due/00")
	delete(due, "ex/due/01")
	delete(due, "ex/due/02")
	due["ex/far/00"] = true
	if got := list(0); len(got) != len(due) {
		t.Fatalf("ListExpiring after a delete, a plain put and two refilings = %d entries %v, want %d", len(got), got, len(due))
	}
	es, err := el.ListExpiring(bg, "ex/far/", before, 0)
	if err != nil || len(es) != 1 || es[0].Key != "ex/far/00" {
		t.Fatalf("ListExpiring(ex/far/) = %v, %v; want the refiled ex/far/00 only", entryKeys(es), err)
	}
	if tx, ok := s.(driver.Transactional); ok {
		_, err := tx.Txn(bg, []driver.Op{
			{Kind: driver.OpPut, Key: "ex/txn/a", Value: []byte("v-ex/txn/a"), Cond: driver.Unconditional(), ExpireAt: base},
			{Kind: driver.OpDelete, Key: "ex/far/00", Cond: driver.Unconditional()},
		})
		if err != nil {
			t.Fatal(err)
		}
		es, err := el.ListExpiring(bg, "ex/", before, 0)
		if err != nil {
			t.Fatal(err)
		}
		keys := entryKeys(es)
		sort.Strings(keys)
		if i := sort.SearchStrings(keys, "ex/txn/a"); i == len(keys) || keys[i] != "ex/txn/a" {
			t.Fatalf("a transaction's put with ExpireAt is not listed: %v", keys)
		}
		for _, k := range keys {
			if k == "ex/far/00" {
				t.Fatal("a transaction's delete left its entry in the expiry listing")
			}
		}
	}
}
