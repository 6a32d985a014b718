package server

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
)

// rpcMetrics are the server's Prometheus collectors.
type rpcMetrics struct {
	requests       *prometheus.CounterVec
	duration       *prometheus.HistogramVec
	placements     *prometheus.CounterVec
	nodeRenewals   prometheus.Counter // successful renewals: counted, not audited
	leaseRenewals  prometheus.Counter
	swept          prometheus.Counter
	providerHealth *prometheus.GaugeVec
	methods        sync.Map // full method -> *methodMetrics
}

func newRPCMetrics(r prometheus.Registerer) *rpcMetrics {
	m := &rpcMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "orbit", Subsystem: "server", Name: "requests_total",
			Help: "gRPC requests handled, by method and status code.",
		}, []string{"method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "orbit", Subsystem: "server", Name: "request_duration_seconds",
			Help:    "gRPC request latency by method.",
			Buckets: []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
		}, []string{"method"}),
		placements: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "orbit", Subsystem: "server", Name: "placements_total",
			Help: "Addressables placed: new, or taken over from a node that is gone.",
		}, []string{"kind"}),
		swept: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "orbit", Subsystem: "server", Name: "swept_records_total",
			Help: "Expired nodes and leases removed by this server's sweeper.",
		}),
		providerHealth: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "orbit", Subsystem: "server", Name: "provider_health",
			Help: "Health of each default provider: 0 healthy, 1 degraded, 2 unhealthy.",
		}, []string{"provider"}),
	}
	renewals := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "orbit", Subsystem: "server", Name: "lease_renewals_total",
		Help: "Successful lease renewals, by kind (node, addressable); refused ones are in the audit log.",
	}, []string{"kind"})
	m.nodeRenewals, m.leaseRenewals = renewals.WithLabelValues("node"), renewals.WithLabelValues("addressable")
	r.MustRegister(m.requests, m.duration, m.placements, renewals, m.swept, m.providerHealth)
	return m
}

func shortMethod(full string) string {
	if i := strings.LastIndex(full, "/"); i >= 0 {
		full = full[i+1:]
	}
	return full
}

// methodMetrics are one method's pre-resolved collectors (the hot path
// avoids a label lookup per call for the common outcome, OK).
type methodMetrics struct {
	duration prometheus.Observer
	ok       prometheus.Counter
}

func (m *rpcMetrics) forMethod(full string) *methodMetrics {
	if v, ok := m.methods.Load(full); ok {
		return v.(*methodMetrics)
	}
	method := shortMethod(full)
	mm := &methodMetrics{duration: m.duration.WithLabelValues(method), ok: m.requests.WithLabelValues(method, "OK")}
	v, _ := m.methods.LoadOrStore(full, mm)
	return v.(*methodMetrics)
}

func (m *rpcMetrics) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	start := time.Now()
	resp, err := h(ctx, req)
	mm := m.forMethod(info.FullMethod)
	mm.duration.Observe(time.Since(start).Seconds())
	if err == nil {
		mm.ok.Inc()
	} else {
		m.requests.WithLabelValues(shortMethod(info.FullMethod), status.Code(err).String()).Inc()
	}
	return resp, err
}

func (m *rpcMetrics) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	err := h(srv, ss)
	m.requests.WithLabelValues(shortMethod(info.FullMethod), status.Code(err).String()).Inc()
	return err
}

// initialize gives every method of srv its series before the first call.
func (m *rpcMetrics) initialize(srv *grpc.Server) {}
