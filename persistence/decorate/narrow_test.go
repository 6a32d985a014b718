package decorate_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/orbit-go/orbit/persistence/decorate"
	"github.com/orbit-go/orbit/persistence/driver"
	"github.com/orbit-go/orbit/persistence/memory"
)

// everything implements the whole contract and records which method ran;
// narrowed with decorate.Narrow it stands for a driver of any combination
// of capabilities.
type everything struct{ called *[]string }

func (e everything) note(m string) { *e.called = append(*e.called, m) }

func (e everything) Get(context.Context, string) (driver.Entry, error) {
	e.note("Get")
	return driver.Entry{}, driver.ErrNotFound
}
func (e everything) Put(context.Context, string, []byte, driver.Condition) (driver.Version, error) {
	e.note("Put")
	return driver.NumVersion(1), nil
}
func (e everything) Delete(context.Context, string, driver.Condition) error {
	e.note("Delete")
	return nil
}
func (e everything) List(context.Context, string, driver.ListOptions) (driver.ListPage, error) {
	e.note("List")
	return driver.ListPage{}, nil
}
func (e everything) Close(context.Context) error { e.note("Close"); return nil }
func (e everything) Txn(context.Context, []driver.Op) ([]driver.Version, error) {
	e.note("Txn")
	return nil, nil
}
func (e everything) MaxTxnOps() int { e.note("MaxTxnOps"); return 7 }
func (e everything) GetMany(context.Context, []string) ([]driver.Entry, error) {
	e.note("GetMany")
	return nil, nil
}
func (e everything) ApplyMany(context.Context, []driver.Op) ([]driver.OpResult, error) {
	e.note("ApplyMany")
	return nil, nil
}
func (e everything) PutWithOptions(context.Context, string, []byte, driver.Condition, driver.PutOptions) (driver.Version, error) {
	e.note("PutWithOptions")
	return driver.NumVersion(2), nil
}
func (e everything) ListIndex(context.Context, string, driver.ListOptions) (driver.ListPage, error) {
	e.note("ListIndex")
	return driver.ListPage{}, nil
}
func (e everything) ExpiresEntries() { e.note("ExpiresEntries") }
func (e everything) ListExpiring(context.Context, string, time.Time, int) ([]driver.Entry, error) {
	e.note("ListExpiring")
	return nil, nil
}
func (e everything) ExpiryGranularity() time.Duration {
	e.note("ExpiryGranularity")
	return time.Second
}
func (e everything) Watch(context.Context, string) (<-chan driver.Event, error) {
	e.note("Watch")
	return nil, nil
}
func (e everything) HealthCheck(context.Context) driver.Health {
	e.note("HealthCheck")
	return driver.Health{Status: driver.Degraded, Reason: "inner"}
}
func (e everything) CacheStats() (uint64, uint64) { e.note("CacheStats"); return 3, 4 }
func (e everything) InProcess()                   { e.note("InProcess") }
func (e everything) CountPrefix(context.Context, string) (int64, error) {
	e.note("CountPrefix")
	return 42, nil
}
func (e everything) Unwrap() driver.Store { return nil }

// capCase asks a store for one optional interface.
type capCase struct {
	name string
	has  func(driver.Store) bool
}

var optional = []capCase{
	{"transactions", func(s driver.Store) bool { _, ok := s.(driver.Transactional); return ok }},
	{"batch", func(s driver.Store) bool { _, ok := s.(driver.Batcher); return ok }},
	{"index", func(s driver.Store) bool { _, ok := s.(driver.Indexer); return ok }},
	{"expiry", func(s driver.Store) bool { _, ok := s.(driver.Expirer); return ok }},
	{"watch", func(s driver.Store) bool { _, ok := s.(driver.Watcher); return ok }},
	{"health", func(s driver.Store) bool { _, ok := s.(driver.HealthChecker); return ok }},
	{"cache-stats", func(s driver.Store) bool { _, ok := s.(driver.CacheStatser); return ok }},
	{"in-process", func(s driver.Store) bool { _, ok := s.(driver.InProcess); return ok }},
	{"expiry-index", func(s driver.Store) bool { _, ok := s.(driver.ExpiryLister); return ok }},
	{"count", func(s driver.Store) bool { _, ok := s.(driver.Counter); return ok }},
	{"option-putter", func(s driver.Store) bool { _, ok := s.(driver.OptionPutter); return ok }},
}

// TestMeasuredStoreHasInnerCapabilities asks a measured store for each
// optional interface, for every combination an inner driver can have, and
// expects the inner driver's answer; each capability the store claims
// reaches the inner driver's method.
func TestMeasuredStoreHasInnerCapabilities(t *testing.T) {
	ctx := context.Background()
	for mask := 0; mask < 1<<10; mask++ {
		var calls []string
		inner := innerWith(t, mask, &calls)
		measured, m := decorate.Measure(inner, "p", "Test", nil)
		for _, c := range optional {
			if got, want := c.has(measured), c.has(inner); got != want {
				t.Errorf("mask %08b: measured store has %s = %v, inner has %v", mask, c.name, got, want)
			}
		}
		if got, want := driver.CapabilitiesOf(measured).String(), driver.CapabilitiesOf(inner).String(); got != want {
			t.Errorf("mask %08b: CapabilitiesOf(measured) = %q, inner %q", mask, got, want)
		}
		if decorate.Unwrap(measured) != inner {
			t.Errorf("mask %08b: Unwrap does not return the inner store", mask)
		}
		// Every claimed capability reaches the inner driver.
		calls = calls[:0]
		_, _ = measured.Get(ctx, "k")
		want := []string{"Get"}
		if tx, ok := measured.(driver.Transactional); ok {
			_, _ = tx.Txn(ctx, nil)
			want = append(want, "Txn")
		}
		if ix, ok := measured.(driver.Indexer); ok {
			_, _ = ix.ListIndex(ctx, "n", driver.ListOptions{})
			_, _ = ix.PutWithOptions(ctx, "k", nil, driver.Unconditional(), driver.PutOptions{})
			want = append(want, "ListIndex", "PutWithOptions")
		}
		if el, ok := measured.(driver.ExpiryLister); ok {
			_, _ = el.ListExpiring(ctx, "a/", time.Now(), 10)
			if g := el.ExpiryGranularity(); g != time.Second {
				t.Errorf("mask %08b: ExpiryGranularity = %v, want the inner answer", mask, g)
			}
			want = append(want, "ListExpiring", "ExpiryGranularity")
		}
		if hc, ok := measured.(driver.HealthChecker); ok {
			if h := hc.HealthCheck(ctx); h.Reason != "inner" {
				t.Errorf("mask %08b: HealthCheck = %+v, want the inner answer", mask, h)
			}
			want = append(want, "HealthCheck")
		}
		if cs, ok := measured.(driver.CacheStatser); ok {
			if h, mi := cs.CacheStats(); h != 3 || mi != 4 {
				t.Errorf("mask %08b: CacheStats = %d, %d", mask, h, mi)
			}
			want = append(want, "CacheStats")
		}
		if c, ok := measured.(driver.Counter); ok {
			if n, err := c.CountPrefix(ctx, "a/"); n != 42 || err != nil {
				t.Errorf("mask %08b: CountPrefix = %d, %v, want the inner answer", mask, n, err)
			}
			want = append(want, "CountPrefix")
		}
		if len(calls) != len(want) {
			t.Errorf("mask %08b: inner calls %v, want %v", mask, calls, want)
		}
		if _, ok := measured.(driver.Transactional); !ok {
			if _, err := m.Txn(ctx, nil); !errors.Is(err, driver.ErrUnsupported) {
				t.Errorf("mask %08b: Metrics.Txn without the capability = %v, want ErrUnsupported", mask, err)
			}
		}
	}
}

// TestMeasuredMemoryStore checks a real driver: the memory store's
// capabilities survive the decorator, and its reads are counted.
func TestMeasuredMemoryStore(t *testing.T) {
	ctx := context.Background()
	inner := memory.New(memory.Options{})
	defer inner.Close(ctx)
	measured, m := decorate.Measure(inner, "mem", "Memory", nil)
	if got, want := driver.CapabilitiesOf(measured), driver.CapabilitiesOf(inner); got.String() != want.String() {
		t.Fatalf("capabilities %q, want %q", got, want)
	}
	if _, ok := measured.(driver.InProcess); !ok {
		t.Fatal("the measured memory store is not InProcess")
	}
	if decorate.Innermost(measured) != driver.Store(inner) {
		t.Fatal("Innermost does not return the memory store")
	}
	for range 5 {
		_, _ = measured.Get(ctx, "a/x")
	}
	if s := m.Snapshot(); s.ReadOperations != 5 || s.ErrorCount != 0 {
		t.Fatalf("snapshot %+v, want 5 reads and no errors (not found is an outcome)", s)
	}
}

// innerWith returns a store with exactly the capabilities of mask (bit i is
// optional[i]; option-putter follows index, expiry or expiry-index), checking the
// generated combination against the mask first.
func innerWith(t *testing.T, mask int, calls *[]string) driver.Store {
	t.Helper()
	s := decorate.NarrowMask(mask, everything{called: calls})
	for i, c := range optional {
		want := mask&(1<<i) != 0
		if c.name == "option-putter" {
			want = mask&(1<<2|1<<3|1<<8) != 0
		}
		if got := c.has(s); got != want {
			t.Fatalf("combination %08b: has %s = %v, want %v", mask, c.name, got, want)
		}
	}
	return s
}
