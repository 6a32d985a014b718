package drivertest

import (
	"errors"
	"testing"

	"github.com/orbit-go/orbit/persistence"
	"github.com/orbit-go/orbit/persistence/driver"
)

func (h Harness) runTransactionTests(t *testing.T) {
	if !h.claims(driver.CapTransactions) {
		t.Run("Unsupported", func(t *testing.T) {
			e := h.newEnv(t)
			if _, err := e.p.BeginTransaction(e.ctx); !errors.Is(err, persistence.ErrUnsupported) {
				t.Fatalf("BeginTransaction without the capability = %v, want ErrUnsupported", err)
			}
		})
		return
	}
	t.Run("CommitAll", h.testTxnCommit)
	t.Run("ConflictAppliesNothing", h.testTxnConflict)
	t.Run("Rollback", h.testTxnRollback)
}

func (e *env) lease(key, n string, epoch uint64) persistence.AddressableLease {
	return persistence.AddressableLease{Reference: ref(key), Node: node(n), CreatedAt: e.epoch0,
		RenewAt: e.epoch0.Add(ttl / 2), ExpiresAt: e.epoch0.Add(ttl), Epoch: epoch}
}

func (h Harness) testTxnCommit(t *testing.T) {
	e := h.newEnv(t)
	if _, err := e.addrs.Place(e.ctx, ref("old"), node("n0"), ttl); err != nil {
		t.Fatal(err)
	}
	tx, err := e.p.BeginTransaction(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	must(t, tx.StoreLease(e.lease("t1", "n1", 5)))
	must(t, tx.StoreLease(e.lease("t2", "n1", 5)))
	must(t, tx.StoreNode(mkNode("n1", persistence.NodeActive, e.epoch0.Add(ttl))))
	must(t, tx.RemoveLease(ref("old")))
	if got, err := tx.GetLease(e.ctx, ref("t1")); err != nil || got.Epoch != 5 {
		t.Fatalf("a transaction reads its own writes: %+v, %v", got, err)
	}
	if _, err := e.addrs.Get(e.ctx, ref("t1")); !errors.Is(err, persistence.ErrNotFound) {
		t.Fatalf("uncommitted write visible outside the transaction: %v", err)
	}
	if err := tx.Commit(e.ctx); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"t1", "t2"} {
		if _, err := e.addrs.Get(e.ctx, ref(k)); err != nil {
			t.Fatalf("%s after commit: %v", k, err)
		}
	}
	if _, err := e.nodes.Get(e.ctx, node("n1")); err != nil {
		t.Fatalf("node after commit: %v", err)
	}
	if _, err := e.addrs.Get(e.ctx, ref("old")); !errors.Is(err, persistence.ErrNotFound) {
		t.Fatalf("removed lease after commit: %v", err)
	}
	if got := listByNode(t, e, node("n1"), 0); len(got) != 2 {
		t.Fatalf("ListByNode after commit = %v", got)
	}
	if err := tx.Commit(e.ctx); !errors.Is(err, persistence.ErrInvalidArgument) {
		t.Fatalf("second Commit = %v, want ErrInvalidArgument", err)
	}
}

func (h Harness) testTxnConflict(t *testing.T) {
	e := h.newEnv(t)
	l, err := e.addrs.Place(e.ctx, ref("c"), node("n1"), ttl)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := e.p.BeginTransaction(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.GetLease(e.ctx, ref("c")); err != nil {
		t.Fatal(err)
	}
	must(t, tx.StoreLease(e.lease("other", "n1", 1)))
	// A concurrent writer changes the key the transaction read.
	if _, err := e.addrs.Renew(e.ctx, ref("c"), node("n1"), l.Epoch, 2*ttl); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(e.ctx); !errors.Is(err, persistence.ErrConflict) {
		t.Fatalf("Commit after a concurrent change = %v, want ErrConflict", err)
	}
	if _, err := e.addrs.Get(e.ctx, ref("other")); !errors.Is(err, persistence.ErrNotFound) {
		t.Fatalf("a conflicting transaction applied a write: %v", err)
	}
}

func (h Harness) testTxnRollback(t *testing.T) {
	e := h.newEnv(t)
	tx, err := e.p.BeginTransaction(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	must(t, tx.StoreLease(e.lease("r", "n1", 1)))
	must(t, tx.Rollback())
	if _, err := e.addrs.Get(e.ctx, ref("r")); !errors.Is(err, persistence.ErrNotFound) {
		t.Fatalf("rolled back write is visible: %v", err)
	}
	if err := tx.Commit(e.ctx); !errors.Is(err, persistence.ErrInvalidArgument) {
		t.Fatalf("Commit after Rollback = %v, want ErrInvalidArgument", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
