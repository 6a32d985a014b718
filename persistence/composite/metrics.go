package composite

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the composite's own Prometheus collectors, labelled with the
// provider's name. With no registerer they still count (for Status) but
// are exported nowhere.
type metrics struct {
	reg       prometheus.Registerer
	name      string
	active    prometheus.Gauge
	failovers prometheus.Counter
	failbacks prometheus.Counter
	behind    prometheus.Gauge
	lag       prometheus.Gauge
	syncs     prometheus.Counter
	vecs      []prometheus.Collector
}

func newMetrics(reg prometheus.Registerer, name string) *metrics {
	label := []string{"provider"}
	activeVec := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "orbit_composite_active_side",
		Help: "Which side of the Composite provider serves requests: 0 primary, 1 backup."}, label)
	failoverVec := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "orbit_composite_failovers_total",
		Help: "Switches of the Composite provider from its primary to its backup."}, label)
	failbackVec := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "orbit_composite_failbacks_total",
		Help: "Switches of the Composite provider back to its primary."}, label)
	behindVec := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "orbit_composite_standby_behind",
		Help: "1 while the Composite provider's standby side may miss acknowledged writes."}, label)
	lagVec := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "orbit_composite_sync_lag_seconds",
		Help: "How far the standby may lag the active side: 0 while every write is mirrored, else the age of the last complete synchronisation."}, label)
	syncVec := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "orbit_composite_syncs_total",
		Help: "Complete full synchronisations of the Composite provider."}, label)
	m := &metrics{reg: reg, name: name}
	vecs := []prometheus.Collector{activeVec, failoverVec, failbackVec, behindVec, lagVec, syncVec}
	for i, v := range vecs {
		if reg == nil {
			continue
		}
		if err := reg.Register(v); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				vecs[i] = are.ExistingCollector
			}
		}
	}
	m.vecs = vecs
	m.active = vecs[0].(*prometheus.GaugeVec).WithLabelValues(name)
	m.failovers = vecs[1].(*prometheus.CounterVec).WithLabelValues(name)
	m.failbacks = vecs[2].(*prometheus.CounterVec).WithLabelValues(name)
	m.behind = vecs[3].(*prometheus.GaugeVec).WithLabelValues(name)
	m.lag = vecs[4].(*prometheus.GaugeVec).WithLabelValues(name)
	m.syncs = vecs[5].(*prometheus.CounterVec).WithLabelValues(name)
	return m
}

func (m *metrics) setActive(s Side) { m.active.Set(float64(s)) }

// unregister removes this provider's series (the collectors stay, shared).
func (m *metrics) unregister() {
	for _, v := range m.vecs {
		switch c := v.(type) {
		case *prometheus.GaugeVec:
			c.DeleteLabelValues(m.name)
		case *prometheus.CounterVec:
			c.DeleteLabelValues(m.name)
		}
	}
}

// updateMetrics refreshes the gauges computed from the state.
func (s *Store) updateMetrics() {
	behind := s.opt.Mirror == Async || s.behind.Load()
	if behind {
		s.met.behind.Set(1)
		s.met.lag.Set(s.opt.Clock.Now().Sub(time.Unix(0, s.lastSync.Load())).Seconds())
	} else {
		s.met.behind.Set(0)
		s.met.lag.Set(0)
	}
}
