package decorate

import (
	"errors"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Exporter exports the metrics of the stores measured with it to one
// Prometheus registerer:
//
//   - orbit_persistence_operations_total{provider,type,operation} (exact count)
//   - orbit_persistence_operation_duration_seconds{provider,type,operation}
//   - orbit_persistence_operation_errors_total{provider,type,operation,code}
//
// It remembers which measured store exports the operation counter under
// each provider name, so that a provider opened again under its name (a
// restart, a migration) takes the counter over, and closing the replaced
// one leaves its successor's counter. Providers that may share a name must
// share the Exporter. An Exporter is safe for concurrent use.
type Exporter struct {
	r    prometheus.Registerer
	vecs *promVecs

	mu     sync.Mutex
	owners map[string]*opsCollector // provider name -> the counter exported for it
}

// NewExporter returns an Exporter to r; nil if r is nil (nothing exported).
func NewExporter(r prometheus.Registerer) *Exporter {
	if r == nil {
		return nil
	}
	return &Exporter{r: r, vecs: registerVecs(r), owners: map[string]*opsCollector{}}
}

// promVecs are the Prometheus collectors shared by every store that one
// Exporter measures.
type promVecs struct {
	duration *prometheus.HistogramVec
	errors   *prometheus.CounterVec
}

// registerVecs registers the histogram and error counter on r, or adopts
// the ones already registered there (by another Exporter to r).
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

// opsCollector exports the exact operation counts of one store as
// orbit_persistence_operations_total{provider,type,operation}, read from
// the stripes at scrape time (no shared counter on the hot path).
type opsCollector struct {
	m    *Metrics
	desc *prometheus.Desc
}

func (c *opsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *opsCollector) Collect(ch chan<- prometheus.Metric) {
	for op := range numOps {
		n, _, _ := c.m.sums(op)
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(n), opNames[op])
	}
}

// export adds the operation counter of m (provider name) to the registerer,
// replacing the counter of an earlier store exported under the same name.
// It returns nil when another component owns the series on the registerer.
func (e *Exporter) export(m *Metrics, name, typ string) *opsCollector {
	c := &opsCollector{m: m, desc: prometheus.NewDesc("orbit_persistence_operations_total",
		"Storage driver operations, by provider and operation (exact; the duration histogram of an in-process provider samples them).",
		[]string{"operation"}, prometheus.Labels{"provider": name, "type": typ})}
	e.initErrors(name, typ)
	e.mu.Lock()
	defer e.mu.Unlock()
	if prev := e.owners[name]; prev != nil {
		e.r.Unregister(prev)
		delete(e.owners, name)
	}
	if err := e.r.Register(c); err != nil {
		return nil // another component owns the name on r: keep theirs
	}
	e.owners[name] = c
	return c
}

// unexport removes c (exported under name), unless another store has
// taken the name over.
func (e *Exporter) unexport(name string, c *opsCollector) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.owners[name] == c {
		e.r.Unregister(c)
		delete(e.owners, name)
	}
}

// initErrors creates the error series of every operation and failure code
// of provider name at 0, so that a rate over them is 0 rather than absent
// before the first failure (not_found and conflict are outcomes, never
// counted).
func (e *Exporter) initErrors(name, typ string) {
	for op := range numOps {
		for _, c := range failureCodes() {
			e.vecs.errors.WithLabelValues(name, typ, opNames[op], c)
		}
	}
}
