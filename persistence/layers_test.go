package persistence_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/orbit-go/orbit/clock"
	"github.com/orbit-go/orbit/persistence"

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

// ttlKV is a bare KV that records the native-expiry deadline of each write
// (as a backend with the ttl capability would use it), to check that the
// lease logic always pushes deadlines along with lease expiry.
type ttlKV struct {
	plainKV
	mu        sync.Mutex
	deadlines map[string]time.Time
}

func (t *ttlKV) PutWithOptions(ctx context.Context, k string, v []byte, c driver.Condition, o driver.PutOptions) (driver.Version, error) {
	ver, err := t.s.Put(ctx, k, v, c)
	if err == nil {
		t.mu.Lock()
		t.deadlines[k] = o.ExpireAt
		t.mu.Unlock()
	}
	return ver, err
}
func (t *ttlKV) ExpiresEntries() {}

func TestNativeExpiryDeadlinesFollowRenewals(t *testing.T) {
	kv := &ttlKV{plainKV: plainKV{newMem(t)}, deadlines: map[string]time.Time{}}
	c := clock.NewManual(time.Now())
	p := persistence.NewProvider("ttl", "test", kv, persistence.WithClock(c))
	ref := persistence.AddressableReference{Namespace: "default", Type: "T", Key: persistence.StringKey("k")}
	node := persistence.NodeID{Namespace: "default", Key: "n"}
	l, err := p.Addressables().Place(context.Background(), ref, node, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ { // renew far beyond the first deadline
		c.Advance(5 * time.Second)
		if l, err = p.Addressables().Renew(context.Background(), ref, node, l.Epoch, 10*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	kv.mu.Lock()
	if len(kv.deadlines) != 2 {
		t.Fatalf("deadlines recorded for %d keys, want the record and its index entry", len(kv.deadlines))
	}
	for k, d := range kv.deadlines {
		if !d.After(l.ExpiresAt.Add(persistence.DefaultEpochGrace)) {
			t.Fatalf("%s may be deleted natively at %s, before its lease expires at %s plus the grace", k, d, l.ExpiresAt)
		}
	}
	kv.mu.Unlock()
	// Released records stay (for the epoch) until the grace has passed.
	if err := p.Addressables().Release(context.Background(), ref, node, l.Epoch); err != nil {
		t.Fatal(err)
	}
	kv.mu.Lock()
	defer kv.mu.Unlock()
	for k, d := range kv.deadlines {
		if d.Before(c.Now().Add(persistence.DefaultEpochGrace)) {
			t.Fatalf("%s may be deleted natively at %s, within the epoch grace after release", k, d)
		}
	}
}
