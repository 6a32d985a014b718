package decorate

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/orbit-go/orbit/persistence/driver"
)

// Metrics measures one store: it counts every operation, times them (one in
// InProcessSampleEvery for an in-process store), counts failures by portable
// code, and exports all of it through an Exporter when one is given.
//
// Metrics implements Full; hand it out with Narrow (Measure does), so that
// the measured store claims exactly the capabilities of the inner one. Its
// methods of a capability the inner store lacks answer ErrUnsupported.
type Metrics struct {
	inner driver.Store
	// The inner store's optional interfaces, nil where it lacks one.
	txn    driver.Transactional
	batch  driver.Batcher
	put    driver.OptionPutter
	index  driver.Indexer
	expiry driver.ExpiryLister
	watch  driver.Watcher
	health driver.HealthChecker
	cache  driver.CacheStatser

	stripes    [stripeCount]stripe
	errors     atomic.Uint64
	sampleMask uint32 // an operation is timed when rand&sampleMask == 0
	ops        [numOps]*opMetrics

	exporter  *Exporter
	tracing   *tracing      // nil: untraced (SetTracerProvider, tracing.go)
	collector *opsCollector // the exact operation counter, if exported
	name      string
}

var _ Full = (*Metrics)(nil)

// NewMetrics returns the metrics decorator of inner, the store of provider
// name (of provider type typ), exported through e (nil: not exported).
func NewMetrics(inner driver.Store, name, typ string, e *Exporter) *Metrics {
	m := &Metrics{inner: inner, exporter: e, name: name}
	m.txn, _ = inner.(driver.Transactional)
	m.batch, _ = inner.(driver.Batcher)
	m.put, _ = inner.(driver.OptionPutter)
	m.index, _ = inner.(driver.Indexer)
	m.expiry, _ = inner.(driver.ExpiryLister)
	m.watch, _ = inner.(driver.Watcher)
	m.health, _ = inner.(driver.HealthChecker)
	m.cache, _ = inner.(driver.CacheStatser)
	if _, ok := inner.(driver.InProcess); ok {
		m.sampleMask = InProcessSampleEvery - 1
	}
	for i := range numOps {
		om := &opMetrics{op: i, class: opClasses[i], labels: []string{name, typ, opNames[i]}}
		if e != nil {
			om.observer = e.vecs.duration.WithLabelValues(name, typ, opNames[i])
			om.errors = e.vecs.errors
		}
		m.ops[i] = om
	}
	if e != nil {
		m.collector = e.export(m, name, typ)
	}
	return m
}

// Measure decorates inner with metrics and returns the decorated store
// (with exactly inner's capabilities) and its Metrics.
func Measure(inner driver.Store, name, typ string, e *Exporter) (driver.Store, *Metrics) {
	m := NewMetrics(inner, name, typ, e)
	return Narrow(inner, m), m
}

// Unexport stops exporting the operation counter (when the provider
// closes), unless another store has taken the provider's name over.
func (m *Metrics) Unexport() {
	if m.collector != nil {
		m.exporter.unexport(m.name, m.collector)
	}
}

// Unwrap returns the measured store.
func (m *Metrics) Unwrap() driver.Store { return m.inner }

func (m *Metrics) Get(ctx context.Context, key string) (driver.Entry, error) {
	if m.tracing != nil {
		return m.tracedGet(ctx, key)
	}
	t := m.begin()
	e, err := m.inner.Get(ctx, key)
	m.done(m.ops[idxGet], t, err)
	return e, err
}

func (m *Metrics) Put(ctx context.Context, key string, value []byte, cond driver.Condition) (driver.Version, error) {
	if m.tracing != nil {
		return m.tracedPut(ctx, key, value, cond)
	}
	t := m.begin()
	v, err := m.inner.Put(ctx, key, value, cond)
	m.done(m.ops[idxPut], t, err)
	return v, err
}

func (m *Metrics) Delete(ctx context.Context, key string, cond driver.Condition) error {
	if m.tracing != nil {
		return m.tracedDelete(ctx, key, cond)
	}
	t := m.begin()
	err := m.inner.Delete(ctx, key, cond)
	m.done(m.ops[idxDelete], t, err)
	return err
}

func (m *Metrics) List(ctx context.Context, prefix string, opts driver.ListOptions) (driver.ListPage, error) {
	if m.tracing != nil {
		return m.tracedList(ctx, prefix, opts)
	}
	t := m.begin()
	p, err := m.inner.List(ctx, prefix, opts)
	m.done(m.ops[idxList], t, err)
	return p, err
}

// Close closes the measured store.
func (m *Metrics) Close(ctx context.Context) error { return m.inner.Close(ctx) }

// unsupported is the answer of a method whose capability the inner store
// lacks (unreachable through Narrow).
func (m *Metrics) unsupported(what string) error {
	return fmt.Errorf("%s: provider %q: %w", what, m.name, driver.ErrUnsupported)
}

func (m *Metrics) Txn(ctx context.Context, ops []driver.Op) ([]driver.Version, error) {
	if m.txn == nil {
		return nil, m.unsupported("txn")
	}
	if m.tracing != nil {
		return m.tracedTxn(ctx, ops)
	}
	t := m.begin()
	v, err := m.txn.Txn(ctx, ops)
	m.done(m.ops[idxTxn], t, err)
	return v, err
}

func (m *Metrics) MaxTxnOps() int {
	if m.txn == nil {
		return 0
	}
	return m.txn.MaxTxnOps()
}

func (m *Metrics) PutWithOptions(ctx context.Context, key string, value []byte, cond driver.Condition, opts driver.PutOptions) (driver.Version, error) {
	if m.put == nil {
		return driver.Version{}, m.unsupported("put with options")
	}
	if m.tracing != nil {
		return m.tracedPutWithOptions(ctx, key, value, cond, opts)
	}
	t := m.begin()
	v, err := m.put.PutWithOptions(ctx, key, value, cond, opts)
	m.done(m.ops[idxPut], t, err)
	return v, err
}

// ExpiresEntries marks the expiry capability (present only where the
// inner store has it, through Narrow).
func (m *Metrics) ExpiresEntries() {}

// InProcess marks an in-process store (present only where the inner
// store is one, through Narrow).
func (m *Metrics) InProcess() {}

// GetMany counts one read per call.
func (m *Metrics) GetMany(ctx context.Context, keys []string) ([]driver.Entry, error) {
	if m.batch == nil {
		return nil, m.unsupported("get many")
	}
	if m.tracing != nil {
		return m.tracedGetMany(ctx, keys)
	}
	t := m.begin()
	es, err := m.batch.GetMany(ctx, keys)
	m.done(m.ops[idxGet], t, err)
	return es, err
}

// ApplyMany counts one write per call.
func (m *Metrics) ApplyMany(ctx context.Context, ops []driver.Op) ([]driver.OpResult, error) {
	if m.batch == nil {
		return nil, m.unsupported("apply many")
	}
	if m.tracing != nil {
		return m.tracedApplyMany(ctx, ops)
	}
	t := m.begin()
	res, err := m.batch.ApplyMany(ctx, ops)
	m.done(m.ops[idxPut], t, err)
	return res, err
}

func (m *Metrics) ListIndex(ctx context.Context, label string, opts driver.ListOptions) (driver.ListPage, error) {
	if m.index == nil {
		return driver.ListPage{}, m.unsupported("list index")
	}
	if m.tracing != nil {
		return m.tracedListIndex(ctx, label, opts)
	}
	t := m.begin()
	p, err := m.index.ListIndex(ctx, label, opts)
	m.done(m.ops[idxList], t, err)
	return p, err
}

// ListExpiring counts one list per call.
func (m *Metrics) ListExpiring(ctx context.Context, prefix string, before time.Time, limit int) ([]driver.Entry, error) {
	if m.expiry == nil {
		return nil, m.unsupported("list expiring")
	}
	if m.tracing != nil {
		return m.tracedListExpiring(ctx, prefix, before, limit)
	}
	t := m.begin()
	p, err := m.expiry.ListExpiring(ctx, prefix, before, limit)
	m.done(m.ops[idxList], t, err)
	return p, err
}

// ExpiryGranularity is passed through (0 without the capability).
func (m *Metrics) ExpiryGranularity() time.Duration {
	if m.expiry == nil {
		return 0
	}
	return m.expiry.ExpiryGranularity()
}

// Watch is passed through (a stream is not an operation to count).
func (m *Metrics) Watch(ctx context.Context, prefix string) (<-chan driver.Event, error) {
	if m.watch == nil {
		return nil, m.unsupported("watch")
	}
	return m.watch.Watch(ctx, prefix)
}

// HealthCheck is passed through.
func (m *Metrics) HealthCheck(ctx context.Context) driver.Health {
	if m.health == nil {
		return driver.Health{Status: driver.Unhealthy, Reason: m.unsupported("health check").Error()}
	}
	return m.health.HealthCheck(ctx)
}

// CacheStats is passed through.
func (m *Metrics) CacheStats() (hits, misses uint64) {
	if m.cache == nil {
		return 0, 0
	}
	return m.cache.CacheStats()
}
