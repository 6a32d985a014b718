package persistence

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/orbit-go/orbit/persistence/driver"
	"github.com/prometheus/client_golang/prometheus"
)

// opClass groups driver operations into the spec's three counters.
type opClass int

const (
	classRead opClass = iota
	classWrite
	classDelete
)

// Driver operations measured by the metrics decorator.
const (
	opGet    = "get"
	opPut    = "put"
	opDelete = "delete"
	opList   = "list"
	opTxn    = "txn"
)

var errorCodes = []struct {
	err  error
	code string
}{
	{ErrNotFound, "not_found"}, {ErrConflict, "conflict"}, {ErrFenced, "fenced"},
	{ErrInvalidArgument, "invalid_argument"}, {ErrUnavailable, "unavailable"},
	{ErrUnsupported, "unsupported"}, {ErrCapacity, "capacity"}, {ErrClosed, "closed"},
	{ErrCorrupt, "corrupt"},
}

// ErrorCode returns the portable code of err ("" for nil, "unknown" if unclassified).
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	for _, c := range errorCodes {
		if errors.Is(err, c.err) {
			return c.code
		}
	}
	return "unknown"
}

// promVecs are the Prometheus collectors shared by every provider that
// registers on one registerer.
type promVecs struct {
	duration *prometheus.HistogramVec
	errors   *prometheus.CounterVec
}

func registerVecs(r prometheus.Registerer) *promVecs {
	v := &promVecs{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "orbit", Subsystem: "persistence", Name: "operation_duration_seconds",
			Help:    "Latency of storage driver operations, by provider and operation.",
			Buckets: []float64{.00001, .00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"provider", "type", "operation"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "orbit", Subsystem: "persistence", Name: "operation_errors_total",
			Help: "Storage driver operations that failed, by provider, operation and portable error code (not_found and conflict are outcomes, not failures, and are not counted).",
		}, []string{"provider", "type", "operation", "code"}),
	}
	if err := r.Register(v.duration); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			v.duration = are.ExistingCollector.(*prometheus.HistogramVec)
		}
	}
	if err := r.Register(v.errors); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			v.errors = are.ExistingCollector.(*prometheus.CounterVec)
		}
	}
	return v
}

// opMetrics holds the pre-resolved collectors of one operation.
type opMetrics struct {
	class    opClass
	observer prometheus.Observer
	errors   *prometheus.CounterVec
	labels   []string
}

// metrics is the decorator's state: the spec's counters plus Prometheus.
type metrics struct {
	count   [3]atomic.Uint64
	nanos   [3]atomic.Uint64
	errors  atomic.Uint64
	ops     map[string]*opMetrics
	cacheFn func() (uint64, uint64)
}

func newMetrics(name, typ string, r prometheus.Registerer) *metrics {
	m := &metrics{ops: map[string]*opMetrics{}}
	var vecs *promVecs
	if r != nil {
		vecs = registerVecs(r)
	}
	for op, class := range map[string]opClass{opGet: classRead, opList: classRead, opPut: classWrite, opTxn: classWrite, opDelete: classDelete} {
		om := &opMetrics{class: class, labels: []string{name, typ, op}}
		if vecs != nil {
			om.observer = vecs.duration.WithLabelValues(name, typ, op)
			om.errors = vecs.errors
		}
		m.ops[op] = om
	}
	return m
}

// done records one operation that started at start.
func (m *metrics) done(om *opMetrics, start time.Time, err error) {
	d := time.Since(start)
	m.count[om.class].Add(1)
	m.nanos[om.class].Add(uint64(d))
	if om.observer != nil {
		om.observer.Observe(d.Seconds())
	}
	if err != nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrConflict) {
		m.errors.Add(1)
		if om.errors != nil {
			om.errors.WithLabelValues(append(om.labels, ErrorCode(err))...).Inc()
		}
	}
}

func (m *metrics) snapshot() MetricsSnapshot {
	avg := func(c opClass) time.Duration {
		n := m.count[c].Load()
		if n == 0 {
			return 0
		}
		return time.Duration(m.nanos[c].Load() / n)
	}
	s := MetricsSnapshot{
		ReadOperations: m.count[classRead].Load(), WriteOperations: m.count[classWrite].Load(),
		DeleteOperations: m.count[classDelete].Load(),
		ReadLatencyAvg:   avg(classRead), WriteLatencyAvg: avg(classWrite), DeleteLatencyAvg: avg(classDelete),
		ErrorCount: m.errors.Load(),
	}
	if m.cacheFn != nil {
		s.CacheHits, s.CacheMisses = m.cacheFn()
	}
	return s
}

// instrumented decorates a driver with metrics. It implements Transactional
// and Watcher by delegation; the provider only calls them when the wrapped
// driver has the capability (capabilities are read from the raw driver).
type instrumented struct {
	inner                    driver.Store
	m                        *metrics
	get, put, del, list, txn *opMetrics
}

func newInstrumented(inner driver.Store, m *metrics) *instrumented {
	return &instrumented{inner: inner, m: m, get: m.ops[opGet], put: m.ops[opPut], del: m.ops[opDelete], list: m.ops[opList], txn: m.ops[opTxn]}
}

func (s *instrumented) Get(ctx context.Context, key string) (driver.Entry, error) {
	start := time.Now()
	e, err := s.inner.Get(ctx, key)
	s.m.done(s.get, start, err)
	return e, err
}

func (s *instrumented) Put(ctx context.Context, key string, value []byte, cond driver.Condition) (driver.Version, error) {
	start := time.Now()
	v, err := s.inner.Put(ctx, key, value, cond)
	s.m.done(s.put, start, err)
	return v, err
}

func (s *instrumented) Delete(ctx context.Context, key string, cond driver.Condition) error {
	start := time.Now()
	err := s.inner.Delete(ctx, key, cond)
	s.m.done(s.del, start, err)
	return err
}

func (s *instrumented) List(ctx context.Context, prefix string, opts driver.ListOptions) (driver.ListPage, error) {
	start := time.Now()
	p, err := s.inner.List(ctx, prefix, opts)
	s.m.done(s.list, start, err)
	return p, err
}

func (s *instrumented) Close(ctx context.Context) error { return s.inner.Close(ctx) }

func (s *instrumented) Txn(ctx context.Context, ops []driver.Op) ([]driver.Version, error) {
	t, ok := s.inner.(driver.Transactional)
	if !ok {
		return nil, ErrUnsupported
	}
	start := time.Now()
	v, err := t.Txn(ctx, ops)
	s.m.done(s.txn, start, err)
	return v, err
}

func (s *instrumented) MaxTxnOps() int {
	if t, ok := s.inner.(driver.Transactional); ok {
		return t.MaxTxnOps()
	}
	return 0
}

func (s *instrumented) PutWithOptions(ctx context.Context, key string, value []byte, cond driver.Condition, opts driver.PutOptions) (driver.Version, error) {
	op, ok := s.inner.(driver.OptionPutter)
	if !ok {
		return driver.Version{}, ErrUnsupported
	}
	start := time.Now()
	v, err := op.PutWithOptions(ctx, key, value, cond, opts)
	s.m.done(s.put, start, err)
	return v, err
}

func (s *instrumented) NativeExpiry() {}

// GetMany and ApplyMany count one read or write per call.
func (s *instrumented) GetMany(ctx context.Context, keys []string) ([]driver.Entry, error) {
	b, ok := s.inner.(driver.Batcher)
	if !ok {
		return nil, ErrUnsupported
	}
	start := time.Now()
	es, err := b.GetMany(ctx, keys)
	s.m.done(s.get, start, err)
	return es, err
}

func (s *instrumented) ApplyMany(ctx context.Context, ops []driver.Op) ([]driver.OpResult, error) {
	b, ok := s.inner.(driver.Batcher)
	if !ok {
		return nil, ErrUnsupported
	}
	start := time.Now()
	res, err := b.ApplyMany(ctx, ops)
	s.m.done(s.put, start, err)
	return res, err
}

func (s *instrumented) ListIndex(ctx context.Context, label string, opts driver.ListOptions) (driver.ListPage, error) {
	ix, ok := s.inner.(driver.Indexer)
	if !ok {
		return driver.ListPage{}, ErrUnsupported
	}
	start := time.Now()
	p, err := ix.ListIndex(ctx, label, opts)
	s.m.done(s.list, start, err)
	return p, err
}

func (s *instrumented) Watch(ctx context.Context, prefix string) (<-chan driver.Event, error) {
	if w, ok := s.inner.(driver.Watcher); ok {
		return w.Watch(ctx, prefix)
	}
	return nil, ErrUnsupported
}
