package server

import (
	"context"
	"errors"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/orbit-go/orbit/persistence"
	"github.com/orbit-go/orbit/persistence/driver"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
)

// The server's metrics (docs/observability-metrics.md lists them all):
//
//   - the standard gRPC server metrics of go-grpc-middleware's Prometheus
//     provider: grpc_server_started_total, grpc_server_handled_total
//     {grpc_type,grpc_service,grpc_method,grpc_code},
//     grpc_server_msg_received_total, grpc_server_msg_sent_total and the
//     grpc_server_handling_seconds histogram, every registered method's
//     series (every code of handled_total) present from Build;
//   - orbit_server_placements_total{kind}, orbit_server_lease_renewals_total
//     {kind}, orbit_server_swept_records_total;
//   - orbit_server_provider_up{provider} (1 serving, 0 unhealthy),
//     orbit_server_provider_status{provider,status} (one-hot),
//     orbit_server_provider_last_check_timestamp_seconds{provider}, for
//     every configured provider;
//   - orbit_build_info{version,revision,goversion} = 1.
//
// They replace orbit_server_requests_total{method,code} and
// orbit_server_request_duration_seconds{method} (which merged methods of
// the same name in different services) and orbit_server_provider_health
// (0 meant healthy).

// handlingBuckets are the handling-time histogram's buckets: the old
// request-duration buckets (a locate on an in-process provider takes tens
// of microseconds) up to the 10 s of a slow backend.
var handlingBuckets = []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1, 2.5, 10}

// providerStates are the values of orbit_server_provider_status's status
// label, one per persistence.HealthStatus.
var providerStates = []struct {
	status driver.HealthStatus
	label  string
}{{persistence.Healthy, "healthy"}, {persistence.Degraded, "degraded"}, {persistence.Unhealthy, "unhealthy"}}

// rpcMetrics are the server's Prometheus collectors.
type rpcMetrics struct {
	grpc        *grpcprom.ServerMetrics
	unaryMW     grpc.UnaryServerInterceptor
	streamMW    grpc.StreamServerInterceptor
	placements  *prometheus.CounterVec
	placedNew   prometheus.Counter // kind="new"
	placedTaken prometheus.Counter // kind="takeover": from a node that is gone
	// Successful renewals: counted, not audited.
	nodeRenewals  prometheus.Counter
	leaseRenewals prometheus.Counter
	swept         prometheus.Counter

	providerUp        *prometheus.GaugeVec // 1: healthy or degraded, 0: unhealthy
	providerStatus    *prometheus.GaugeVec // one-hot over providerStates
	providerLastCheck *prometheus.GaugeVec // Unix seconds of the last check
	buildInfo         *prometheus.GaugeVec

	setupOnce sync.Once // build info and the providers' first series
	regErrs   []error   // collectors the registry refused (logged by setupMetrics)
}

// newRPCMetrics makes the server's collectors and registers them on r; a
// collector already registered there (a second server on one registry)
// is adopted, so that servers sharing a registry share their series, and
// one r refuses is not exported (see register).
func newRPCMetrics(r prometheus.Registerer) *rpcMetrics {
	m := &rpcMetrics{
		grpc: grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram(grpcprom.WithHistogramBuckets(handlingBuckets))),
		placements: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "orbit", Subsystem: "server", Name: "placements_total",
			Help: "Addressables placed, by kind: new, or takeover (from a node that is gone).",
		}, []string{"kind"}),
		swept: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "orbit", Subsystem: "server", Name: "swept_records_total",
			Help: "Expired nodes and leases removed by this server's sweeper.",
		}),
		providerUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "orbit", Subsystem: "server", Name: "provider_up",
			Help: "Whether each configured provider was serving at the last health check: 1 healthy or degraded, 0 unhealthy or not checked yet.",
		}, []string{"provider"}),
		providerStatus: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "orbit", Subsystem: "server", Name: "provider_status",
			Help: "Health of each configured provider at the last health check: 1 for its status (healthy, degraded, unhealthy), 0 for the others.",
		}, []string{"provider", "status"}),
		providerLastCheck: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "orbit", Subsystem: "server", Name: "provider_last_check_timestamp_seconds",
			Help: "When each configured provider's health was last checked (Unix seconds of the server's clock; 0: not yet).",
		}, []string{"provider"}),
		buildInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "orbit", Name: "build_info",
			Help: "Always 1; its labels say which build of the server runs (version, VCS revision, Go version).",
		}, []string{"version", "revision", "goversion"}),
	}
	renewals := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "orbit", Subsystem: "server", Name: "lease_renewals_total",
		Help: "Successful lease renewals, by kind (node, addressable); refused ones are in the audit log.",
	}, []string{"kind"})
	m.grpc = register(r, m.grpc, &m.regErrs)
	m.placements = register(r, m.placements, &m.regErrs)
	renewals = register(r, renewals, &m.regErrs)
	m.swept = register(r, m.swept, &m.regErrs)
	m.providerUp = register(r, m.providerUp, &m.regErrs)
	m.providerStatus = register(r, m.providerStatus, &m.regErrs)
	m.providerLastCheck = register(r, m.providerLastCheck, &m.regErrs)
	m.buildInfo = register(r, m.buildInfo, &m.regErrs)
	m.placedNew, m.placedTaken = m.placements.WithLabelValues("new"), m.placements.WithLabelValues("takeover")
	m.nodeRenewals, m.leaseRenewals = renewals.WithLabelValues("node"), renewals.WithLabelValues("addressable")
	m.unaryMW, m.streamMW = m.grpc.UnaryServerInterceptor(), m.grpc.StreamServerInterceptor()
	return m
}

// register registers c on r and returns it, or the equal collector
// already registered there (an embedding program's go-grpc-middleware
// ServerMetrics on the same registry, say: both then count into it).
// Another error (a collector of the same name with other labels, from the
// program that passed the registry) leaves c unexported but working, and
// is kept in *errs for setupMetrics to log: a clash of names on the
// caller's registry does not stop the server.
func register[C prometheus.Collector](r prometheus.Registerer, c C, errs *[]error) C {
	if err := r.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if prev, ok := are.ExistingCollector.(C); ok {
				return prev
			}
		}
		*errs = append(*errs, err)
	}
	return c
}

// unary is the metrics interceptor of unary calls: grpc_server_started,
// handled (by code) and handling time.
func (m *rpcMetrics) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	return m.unaryMW(ctx, req, info, h)
}

// stream is the metrics interceptor of streaming calls: as unary, plus the
// messages received and sent.
func (m *rpcMetrics) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	return m.streamMW(srv, ss, info, h)
}

// initialize gives every method registered on srv its series before the
// first call: started, handling time, messages, and handled for every
// gRPC code. Only registered methods are ever counted (a call to an
// unknown method does not reach the interceptors), so the label values
// are bounded by the services, whatever callers send.
func (m *rpcMetrics) initialize(srv *grpc.Server) { m.grpc.InitializeMetrics(srv) }

// setProvider records one provider's health check: up, the one-hot
// status, and the time of the check (zero: not checked, left at 0).
func (m *rpcMetrics) setProvider(st ProviderStatus) {
	up := 0.0
	if st.Health.Status != persistence.Unhealthy {
		up = 1
	}
	m.providerUp.WithLabelValues(st.Name).Set(up)
	for _, s := range providerStates {
		v := 0.0
		if s.status == st.Health.Status {
			v = 1
		}
		m.providerStatus.WithLabelValues(st.Name, s.label).Set(v)
	}
	last := m.providerLastCheck.WithLabelValues(st.Name)
	if !st.CheckedAt.IsZero() {
		last.Set(float64(st.CheckedAt.UnixNano()) / 1e9)
	}
}

// setupMetrics exports what newRPCMetrics cannot know, once per server:
// orbit_build_info from the builder's BuildInfo, and the series of every
// configured provider (unhealthy, not checked yet) so that they exist
// before the first health check and while the backend is not open. It is
// idempotent; the admin handler and the health loop call it, so it runs
// before anything is served.
func (s *Server) setupMetrics() {
	s.metrics.setupOnce.Do(func() {
		for _, err := range s.metrics.regErrs {
			s.log.Error("a server metric is not exported: the Prometheus registry refused it", "error", err)
		}
		bi := s.build
		if bi.Version == "" {
			bi.Version = "devel"
		}
		if bi.Revision == "" {
			bi.Revision = vcsRevision()
		}
		s.metrics.buildInfo.WithLabelValues(bi.Version, bi.Revision, runtime.Version()).Set(1)
		for _, name := range s.configuredProviders() {
			s.metrics.setProvider(ProviderStatus{Name: name, Health: persistence.Health{Status: persistence.Unhealthy, Reason: "not checked yet"}})
		}
	})
}

// configuredProviders names the providers the server has: the registry's
// once open, else those of the configuration it is opening.
func (s *Server) configuredProviders() []string {
	if s.backend.open.Load() {
		return s.registry.Names()
	}
	var names []string
	if cfg := s.backend.cfg; cfg != nil {
		for name := range cfg.Providers {
			names = append(names, name)
		}
	}
	return names
}

// vcsRevision is the VCS revision the binary was built from, or "unknown".
func vcsRevision() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, kv := range bi.Settings {
			if kv.Key == "vcs.revision" && kv.Value != "" {
				return kv.Value
			}
		}
	}
	return "unknown"
}

// shortMethod is the method name of a full gRPC method ("/svc/Method").
func shortMethod(full string) string {
	if i := strings.LastIndex(full, "/"); i >= 0 {
		full = full[i+1:]
	}
	return full
}
