package persistence

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
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
	op       int // index into a stripe's counters
	class    opClass
	observer prometheus.Observer
	errors   *prometheus.CounterVec
	labels   []string
}

// Operation indexes of a stripe's counters.
const (
	idxGet = iota
	idxPut
	idxDelete
	idxList
	idxTxn
	numOps
)

var opNames = [numOps]string{opGet, opPut, opDelete, opList, opTxn}
var opClasses = [numOps]opClass{classRead, classWrite, classDelete, classRead, classWrite}

// stripeCount is the number of counter stripes; an operation adds to one
// chosen at random, so that callers on different cores rarely write the
// same cache line (one shared counter costs more than a whole in-memory
// lookup once two cores hammer it).
const stripeCount = 8

// stripe is one cache-line-aligned set of counters, per operation: how many
// ran, how many of those were timed, and their total time.
type stripe struct {
	count [numOps]atomic.Uint64
	timed [numOps]atomic.Uint64
	nanos [numOps]atomic.Uint64
	_     [128 - (3*numOps*8)%128]byte // pad to whole cache lines
}

// InProcessSampleEvery is how often the metrics decorator times an
// operation of an in-process backend (driver.InProcess: memory, flash): one
// in this many, chosen at random. Reading the clock twice costs about
// 70 ns here, a third of a whole in-memory lookup, so timing every call
// would distort what it measures. Operation counts stay exact; average
// latencies and the duration histograms are estimated from the sample.
// Backends reached over the network time every operation.
const InProcessSampleEvery = 16

// metrics is the decorator's state: the spec's counters plus Prometheus.
type metrics struct {
	stripes    [stripeCount]stripe
	errors     atomic.Uint64
	sampleMask uint32 // an operation is timed when rand&sampleMask == 0
	ops        [numOps]*opMetrics
	cacheFn    func() (uint64, uint64)
	collector  *opsCollector // the exact operation counter, if registered
	registerer prometheus.Registerer
	name       string
}

func newMetrics(name, typ string, r prometheus.Registerer, inProcess bool) *metrics {
	m := &metrics{registerer: r, name: name}
	if inProcess {
		m.sampleMask = InProcessSampleEvery - 1
	}
	var vecs *promVecs
	if r != nil {
		vecs = registerVecs(r)
	}
	for i := range numOps {
		om := &opMetrics{op: i, class: opClasses[i], labels: []string{name, typ, opNames[i]}}
		if vecs != nil {
			om.observer = vecs.duration.WithLabelValues(name, typ, opNames[i])
			om.errors = vecs.errors
		}
		m.ops[i] = om
	}
	if r != nil {
		m.collector = m.register(name, typ, r)
	}
	return m
}

// token is what begin hands to done: the stripe and, for a timed
// operation, its start.
type token struct {
	stripe uint32
	timed  bool
	start  time.Time
}

// begin starts one operation.
func (m *metrics) begin() token {
	r := rand.Uint32()
	t := token{stripe: r % stripeCount}
	if (r>>8)&m.sampleMask == 0 {
		t.timed, t.start = true, time.Now()
	}
	return t
}

// done records one operation begun with t.
func (m *metrics) done(om *opMetrics, t token, err error) {
	st := &m.stripes[t.stripe]
	st.count[om.op].Add(1)
	if t.timed {
		d := time.Since(t.start)
		st.timed[om.op].Add(1)
		st.nanos[om.op].Add(uint64(d))
		if om.observer != nil {
			om.observer.Observe(d.Seconds())
		}
	}
	if err != nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrConflict) {
		m.errors.Add(1)
		if om.errors != nil {
			om.errors.WithLabelValues(append(om.labels, ErrorCode(err))...).Inc()
		}
	}
}

// sums adds up the stripes of operation op.
func (m *metrics) sums(op int) (count, timed, nanos uint64) {
	for i := range m.stripes {
		st := &m.stripes[i]
		count += st.count[op].Load()
		timed += st.timed[op].Load()
		nanos += st.nanos[op].Load()
	}
	return count, timed, nanos
}

func (m *metrics) snapshot() MetricsSnapshot {
	var count, timed, nanos [3]uint64
	for op := range numOps {
		c, t, n := m.sums(op)
		cl := opClasses[op]
		count[cl] += c
		timed[cl] += t
		nanos[cl] += n
	}
	avg := func(c opClass) time.Duration {
		if timed[c] == 0 {
			return 0
		}
		return time.Duration(nanos[c] / timed[c])
	}
	s := MetricsSnapshot{
		ReadOperations: count[classRead], WriteOperations: count[classWrite],
		DeleteOperations: count[classDelete],
		ReadLatencyAvg:   avg(classRead), WriteLatencyAvg: avg(classWrite), DeleteLatencyAvg: avg(classDelete),
		ErrorCount: m.errors.Load(),
	}
	if m.cacheFn != nil {
		s.CacheHits, s.CacheMisses = m.cacheFn()
	}
	return s
}

// opsCollector exports the exact operation counts of one provider as
// orbit_persistence_operations_total{provider,type,operation}, read from
// the stripes at scrape time (no shared counter on the hot path).
type opsCollector struct {
	m    *metrics
	desc *prometheus.Desc
}

func (c *opsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *opsCollector) Collect(ch chan<- prometheus.Metric) {
	for op := range numOps {
		n, _, _ := c.m.sums(op)
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(n), opNames[op])
	}
}

// opsOwners remembers which provider's operation counter each registerer
// exports under each provider name, so that closing a provider that was
// replaced under its name does not remove its successor's counter.
var opsOwners = struct {
	sync.Mutex
	m map[opsOwnerKey]*opsCollector
}{m: map[opsOwnerKey]*opsCollector{}}

type opsOwnerKey struct {
	r    prometheus.Registerer
	name string
}

// register adds the operation counter of provider name to r. A provider
// opened again under the same name (after a close, or in a migration)
// replaces the earlier one's counter.
func (m *metrics) register(name, typ string, r prometheus.Registerer) *opsCollector {
	c := &opsCollector{m: m, desc: prometheus.NewDesc("orbit_persistence_operations_total",
		"Storage driver operations, by provider and operation (exact; the duration histogram of an in-process provider samples them).",
		[]string{"operation"}, prometheus.Labels{"provider": name, "type": typ})}
	opsOwners.Lock()
	defer opsOwners.Unlock()
	k := opsOwnerKey{r, name}
	if prev := opsOwners.m[k]; prev != nil {
		r.Unregister(prev)
		delete(opsOwners.m, k)
	}
	if err := r.Register(c); err != nil {
		return nil // another component owns the name on r: keep theirs
	}
	opsOwners.m[k] = c
	return c
}

// unregister removes the operation counter (on close), unless another
// provider has taken over the name.
func (m *metrics) unregister() {
	if m.collector == nil {
		return
	}
	opsOwners.Lock()
	defer opsOwners.Unlock()
	k := opsOwnerKey{m.registerer, m.name}
	if opsOwners.m[k] == m.collector {
		m.registerer.Unregister(m.collector)
		delete(opsOwners.m, k)
	}
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
	return &instrumented{inner: inner, m: m, get: m.ops[idxGet], put: m.ops[idxPut], del: m.ops[idxDelete], list: m.ops[idxList], txn: m.ops[idxTxn]}
}

func (s *instrumented) Get(ctx context.Context, key string) (driver.Entry, error) {
	t := s.m.begin()
	e, err := s.inner.Get(ctx, key)
	s.m.done(s.get, t, err)
	return e, err
}

func (s *instrumented) Put(ctx context.Context, key string, value []byte, cond driver.Condition) (driver.Version, error) {
	t := s.m.begin()
	v, err := s.inner.Put(ctx, key, value, cond)
	s.m.done(s.put, t, err)
	return v, err
}

func (s *instrumented) Delete(ctx context.Context, key string, cond driver.Condition) error {
	t := s.m.begin()
	err := s.inner.Delete(ctx, key, cond)
	s.m.done(s.del, t, err)
	return err
}

func (s *instrumented) List(ctx context.Context, prefix string, opts driver.ListOptions) (driver.ListPage, error) {
	t := s.m.begin()
	p, err := s.inner.List(ctx, prefix, opts)
	s.m.done(s.list, t, err)
	return p, err
}

func (s *instrumented) Close(ctx context.Context) error { return s.inner.Close(ctx) }

func (s *instrumented) Txn(ctx context.Context, ops []driver.Op) ([]driver.Version, error) {
	tx, ok := s.inner.(driver.Transactional)
	if !ok {
		return nil, ErrUnsupported
	}
	t := s.m.begin()
	v, err := tx.Txn(ctx, ops)
	s.m.done(s.txn, t, err)
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
	t := s.m.begin()
	v, err := op.PutWithOptions(ctx, key, value, cond, opts)
	s.m.done(s.put, t, err)
	return v, err
}

func (s *instrumented) NativeExpiry() {}

// GetMany and ApplyMany count one read or write per call.
func (s *instrumented) GetMany(ctx context.Context, keys []string) ([]driver.Entry, error) {
	b, ok := s.inner.(driver.Batcher)
	if !ok {
		return nil, ErrUnsupported
	}
	t := s.m.begin()
	es, err := b.GetMany(ctx, keys)
	s.m.done(s.get, t, err)
	return es, err
}

func (s *instrumented) ApplyMany(ctx context.Context, ops []driver.Op) ([]driver.OpResult, error) {
	b, ok := s.inner.(driver.Batcher)
	if !ok {
		return nil, ErrUnsupported
	}
	t := s.m.begin()
	res, err := b.ApplyMany(ctx, ops)
	s.m.done(s.put, t, err)
	return res, err
}

func (s *instrumented) ListIndex(ctx context.Context, label string, opts driver.ListOptions) (driver.ListPage, error) {
	ix, ok := s.inner.(driver.Indexer)
	if !ok {
		return driver.ListPage{}, ErrUnsupported
	}
	t := s.m.begin()
	p, err := ix.ListIndex(ctx, label, opts)
	s.m.done(s.list, t, err)
	return p, err
}

func (s *instrumented) Watch(ctx context.Context, prefix string) (<-chan driver.Event, error) {
	if w, ok := s.inner.(driver.Watcher); ok {
		return w.Watch(ctx, prefix)
	}
	return nil, ErrUnsupported
}
