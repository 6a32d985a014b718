package persistence_test

import (
	"context"
	"testing"

	"github.com/orbit-go/orbit/persistence/driver"
	"github.com/orbit-go/orbit/persistence/drivertest"
	"github.com/orbit-go/orbit/persistence/memory"
)

// The lease logic has three write paths: a driver with a native index
// (memory, as shipped), a driver with transactions but no index, and a bare
// versioned key-value store (the object stores). The memory driver, with
// capabilities hidden, exercises the other two against the whole suite.

// plainKV exposes only driver.Store.
type plainKV struct{ s *memory.Store }

func (p plainKV) Get(ctx context.Context, k string) (driver.Entry, error) { return p.s.Get(ctx, k) }
func (p plainKV) Put(ctx context.Context, k string, v []byte, c driver.Condition) (driver.Version, error) {
	return p.s.Put(ctx, k, v, c)
}
func (p plainKV) Delete(ctx context.Context, k string, c driver.Condition) error {
	return p.s.Delete(ctx, k, c)
}
func (p plainKV) List(ctx context.Context, prefix string, o driver.ListOptions) (driver.ListPage, error) {
	return p.s.List(ctx, prefix, o)
}
func (p plainKV) Close(ctx context.Context) error { return p.s.Close(ctx) }

// txnKV adds driver.Transactional.
type txnKV struct{ plainKV }

func (t txnKV) Txn(ctx context.Context, ops []driver.Op) ([]driver.Version, error) {
	for i := range ops {
		ops[i].Label = "" // not an Indexer: labels are ignored
	}
	return t.s.Txn(ctx, ops)
}
func (t txnKV) MaxTxnOps() int { return t.s.MaxTxnOps() }

func newMem(t *testing.T) *memory.Store {
	s := memory.New(memory.Options{})
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	return s
}

func TestConformanceBareKV(t *testing.T) {
	drivertest.RunConformanceTests(t, drivertest.Harness{
		MakeStore: func(t *testing.T) driver.Store { return plainKV{newMem(t)} },
	})
}

func TestConformanceTransactionalKV(t *testing.T) {
	drivertest.RunConformanceTests(t, drivertest.Harness{
		MakeStore:    func(t *testing.T) driver.Store { return txnKV{plainKV{newMem(t)}} },
		Capabilities: []driver.Capability{driver.CapTransactions},
	})
}
