package decorate

import (
	"errors"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/orbit-go/orbit/persistence/driver"
	"github.com/prometheus/client_golang/prometheus"
)

// MetricsSnapshot holds the specification's standard counters for one provider.
type MetricsSnapshot struct {
	ReadOperations   uint64
	WriteOperations  uint64
	DeleteOperations uint64
	ReadLatencyAvg   time.Duration
	WriteLatencyAvg  time.Duration
	DeleteLatencyAvg time.Duration
	ErrorCount       uint64
	CacheHits        uint64
	CacheMisses      uint64
}

// opClass groups driver operations into the specification's three counters.
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

// token is what begin hands to done: the stripe and, for a timed
// operation, its start.
type token struct {
	stripe uint32
	timed  bool
	start  time.Time
}

// begin starts one operation.
func (m *Metrics) begin() token {
	r := rand.Uint32()
	t := token{stripe: r % stripeCount}
	if (r>>8)&m.sampleMask == 0 {
		t.timed, t.start = true, time.Now()
	}
	return t
}

// done records one operation begun with t.
func (m *Metrics) done(om *opMetrics, t token, err error) {
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
	if err != nil && !errors.Is(err, driver.ErrNotFound) && !errors.Is(err, driver.ErrConflict) {
		m.errors.Add(1)
		if om.errors != nil {
			om.errors.WithLabelValues(append(om.labels, ErrorCode(err))...).Inc()
		}
	}
}

// sums adds up the stripes of operation op.
func (m *Metrics) sums(op int) (count, timed, nanos uint64) {
	for i := range m.stripes {
		st := &m.stripes[i]
		count += st.count[op].Load()
		timed += st.timed[op].Load()
		nanos += st.nanos[op].Load()
	}
	return count, timed, nanos
}

// Snapshot returns the counters of the specification: operation counts,
// average latencies (of the timed sample for an in-process store), errors
// and, for a store with a read cache, its hits and misses.
func (m *Metrics) Snapshot() MetricsSnapshot {
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
	if m.cache != nil {
		s.CacheHits, s.CacheMisses = m.cache.CacheStats()
	}
	return s
}
