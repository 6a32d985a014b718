// Package server is the Orbit cluster server: gRPC node membership and
// addressable placement on top of the persistence registry's default
// cluster and addressable providers, a sweeper, health, metrics and an
// admin HTTP listener.
//
// Every decision goes through the provider's compare-and-swap, so several
// servers pointed at the same backend are interchangeable front ends of one
// cluster.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/orbit-go/orbit"
	orbitv1 "github.com/orbit-go/orbit/api/orbit/v1"
	"github.com/orbit-go/orbit/clock"
	"github.com/orbit-go/orbit/persistence"
	"github.com/orbit-go/orbit/persistence/config"
	"github.com/orbit-go/orbit/server/audit"
	"github.com/orbit-go/orbit/server/auth"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"
)

// Timings are the server's lease and housekeeping periods.
type Timings struct {
	// NodeLeaseTTL: a node that stops renewing is out of the cluster after
	// this long, and its addressables are placeable elsewhere at once.
	NodeLeaseTTL time.Duration
	// AddressableLeaseTTL: how long a placement lasts unless its holder
	// renews it (the holder's node must also stay alive).
	AddressableLeaseTTL time.Duration
	// SweepInterval: how often expired nodes and leases are cleaned up.
	SweepInterval time.Duration
	// NodeCacheTTL: how stale the server's view of live nodes may be when it
	// picks a node for a placement or judges a holder alive.
	NodeCacheTTL time.Duration
	// HealthInterval: how often the default providers' health is checked.
	HealthInterval time.Duration
	// NodeRenewInterval: how long after a join or a renewal a node is asked
	// to renew (the RenewAt the server answers). The rest of the lease is
	// the node's time to retry through a server's death or a backend blip:
	// a shorter interval rides out longer blips at the cost of more
	// renewals; failover time depends on NodeLeaseTTL only. 0 means a sixth
	// of NodeLeaseTTL (0.5 s of 3 s: 2.5 s of trouble absorbed, two renewals
	// a second per node).
	NodeRenewInterval time.Duration
}

// RenewInterval is NodeRenewInterval, or its default (a sixth of
// NodeLeaseTTL): how often nodes are told to renew.
func (t Timings) RenewInterval() time.Duration {
	if t.NodeRenewInterval > 0 {
		return t.NodeRenewInterval
	}
	return t.NodeLeaseTTL / 6
}

// DefaultTimings: a node that stops renewing has its addressables
// placeable elsewhere within NodeLeaseTTL + NodeCacheTTL = 3.5 s.
func DefaultTimings() Timings {
	return Timings{
		NodeLeaseTTL:        3 * time.Second,
		AddressableLeaseTTL: 60 * time.Second,
		SweepInterval:       5 * time.Second,
		NodeCacheTTL:        500 * time.Millisecond,
		HealthInterval:      5 * time.Second,
	}
}

func (t Timings) validate() error {
	for name, d := range map[string]time.Duration{
		"node lease TTL": t.NodeLeaseTTL, "addressable lease TTL": t.AddressableLeaseTTL,
		"sweep interval": t.SweepInterval, "node cache TTL": t.NodeCacheTTL, "health interval": t.HealthInterval,
	} {
		if d <= 0 {
			return fmt.Errorf("server: %s must be positive, got %s", name, d)
		}
	}
	if t.NodeRenewInterval < 0 || t.NodeRenewInterval >= t.NodeLeaseTTL {
		return fmt.Errorf("server: node renew interval (%s) must be >= 0 (0: a sixth of the TTL) and shorter than the node lease TTL (%s)", t.NodeRenewInterval, t.NodeLeaseTTL)
	}
	if t.NodeCacheTTL >= t.NodeLeaseTTL {
		return fmt.Errorf("server: node cache TTL (%s) must be shorter than the node lease TTL (%s)", t.NodeCacheTTL, t.NodeLeaseTTL)
	}
	return nil
}

// Builder configures a Server; it mirrors the specification's builder.
type Builder struct {
	namespace   string
	listen      string
	admin       string
	persistence *config.Config
	registry    *persistence.Registry
	clock       clock.Clock
	timings     Timings
	tls         *tls.Config
	auth        *config.AuthConfig
	logger      *slog.Logger
	promReg     *prometheus.Registry
	audit       audit.Auditor
	limits      Limits
	// waitForBackend: start while the providers cannot be opened
	// (WithBackendWait).
	waitForBackend bool
	accessLog      bool                 // WithAccessLog
	pprof          bool                 // WithPprof
	tracer         trace.TracerProvider // WithTracerProvider; nil: tracing off
	build          BuildInfo            // WithBuildInfo
	err            error
}

// NewBuilder starts with namespace "default", gRPC on port 50051, no admin
// listener, and the default timings.
func NewBuilder() *Builder {
	return &Builder{namespace: "default", listen: ":50051", clock: clock.System{}, timings: DefaultTimings()}
}

// WithNamespace sets the namespace used by requests that name none.
func (b *Builder) WithNamespace(ns string) *Builder { b.namespace = ns; return b }

// WithPort sets the gRPC port on all interfaces (0 = any free port).
func (b *Builder) WithPort(port int) *Builder {
	if port < 0 || port > 65535 {
		b.err = fmt.Errorf("server: port %d is out of range 0-65535", port)
	}
	b.listen = ":" + strconv.Itoa(port)
	return b
}

// WithListenAddress sets the gRPC listen address ("127.0.0.1:0", ":50051").
func (b *Builder) WithListenAddress(addr string) *Builder { b.listen = addr; return b }

// WithAdminAddress sets the admin HTTP listen address (/metrics, /healthz,
// /readyz); "" disables it.
func (b *Builder) WithAdminAddress(addr string) *Builder { b.admin = addr; return b }

// WithPersistence opens the providers of cfg when the server is built.
func (b *Builder) WithPersistence(cfg *config.Config) *Builder { b.persistence = cfg; return b }

// WithRegistry uses providers opened by the caller (several servers in one
// process may share them). The caller keeps ownership: Stop does not close it.
func (b *Builder) WithRegistry(r *persistence.Registry) *Builder { b.registry = r; return b }

// WithClock sets the time source (tests).
func (b *Builder) WithClock(c clock.Clock) *Builder { b.clock = c; return b }

// WithTimings overrides the lease and housekeeping periods.
func (b *Builder) WithTimings(t Timings) *Builder { b.timings = t; return b }

// WithTLS serves gRPC over TLS; set ClientAuth and ClientCAs for mTLS.
func (b *Builder) WithTLS(c *tls.Config) *Builder { b.tls = c; return b }

// WithLogger sets the structured logger (default: slog.Default()).
func (b *Builder) WithLogger(l *slog.Logger) *Builder { b.logger = l; return b }

// WithPrometheusRegistry registers the server's and providers' metrics on r
// (default: a new registry served on the admin listener's /metrics).
func (b *Builder) WithPrometheusRegistry(r *prometheus.Registry) *Builder { b.promReg = r; return b }

// WithAccessLog logs one line per gRPC call at level info (method,
// identity, code, duration, trace id); off by default.
func (b *Builder) WithAccessLog(on bool) *Builder { b.accessLog = on; return b }

// WithPprof serves Go's profiler at /debug/pprof/ on the admin listener,
// behind the admin auth when auth is on; off by default.
func (b *Builder) WithPprof(on bool) *Builder { b.pprof = on; return b }

// BuildInfo says which build of the server runs (orbit_build_info).
type BuildInfo struct {
	Version  string // release version, or "devel"
	Revision string // VCS revision; "" when unknown
}

// WithBuildInfo sets the version and revision the server reports.
func (b *Builder) WithBuildInfo(bi BuildInfo) *Builder { b.build = bi; return b }

// Server is one Orbit server.
type Server struct {
	namespace string
	timings   Timings
	clock     clock.Clock
	log       *slog.Logger
	listen    string
	adminAddr string

	registry    *persistence.Registry
	ownRegistry bool
	addrs       persistence.AddressableDirectory
	nodes       persistence.ClusterNodeDirectory
	backend     backendState     // until the providers are open (WithBackendWait)
	provStatus  providerStatuses // the health loop's last results

	grpc    *grpc.Server
	health  *health.Server
	prom    *prometheus.Registry
	metrics *rpcMetrics
	cache   *nodeCache
	audit   audit.Auditor       // nil: no audit log
	tls     *tls.Config         // gRPC's, also the admin listener's
	authn   *auth.Authenticator // nil: auth off
	authCfg *config.AuthConfig

	accessLog bool
	pprof     bool
	tracer    trace.TracerProvider // nil: tracing off
	build     BuildInfo

	limits   Limits
	codec    *lenientCodec
	rate     *rateLimiter
	watches  *watchLimiter
	deadline *deadline

	mu       sync.Mutex
	lis      net.Listener
	http     *http.Server
	adminLis net.Listener
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	started  bool
	stopped  bool
	// stopping is closed when Stop begins, so that endless streams
	// (WatchNodes) end and the drain does not wait for them.
	stopping chan struct{}
	members  *membership // membership changes pushed by the directory's watch
	ready    bool
}

// Build opens the persistence providers (unless a registry was given) and
// prepares the services; nothing listens until Start.
func (b *Builder) Build(ctx context.Context) (*Server, error) {
	if b.err != nil {
		return nil, b.err
	}
	if err := b.timings.validate(); err != nil {
		return nil, err
	}
	limits := b.limits.withDefaults()
	if err := limits.validate(); err != nil {
		return nil, err
	}
	if b.namespace == "" {
		return nil, errors.New("server: namespace must not be empty")
	}
	if err := (orbit.NodeID{Namespace: b.namespace, Key: "x"}).Validate(); err != nil {
		return nil, fmt.Errorf("server: namespace: %w", err)
	}
	s := &Server{namespace: b.namespace, timings: b.timings, clock: b.clock, log: b.logger, listen: b.listen, adminAddr: b.admin, prom: b.promReg,
		limits: limits, stopping: make(chan struct{}), members: newMembership(),
		accessLog: b.accessLog, pprof: b.pprof, tracer: b.tracer, build: b.build}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.prom == nil {
		s.prom = prometheus.NewRegistry()
		s.prom.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	// The auditor first: the providers report their switches to it.
	if err := s.setupAudit(b); err != nil {
		return nil, fmt.Errorf("server: audit metrics: %w", err)
	}
	switch {
	case b.registry != nil:
		if err := s.attach(b.registry, false); err != nil {
			return nil, fmt.Errorf("server: %w", err)
		}
	case b.persistence != nil:
		s.backend.cfg = usedConfig(b.persistence)
		s.backend.opts = []persistence.Option{persistence.WithClock(b.clock),
			persistence.WithLogger(s.log), persistence.WithMetricsRegisterer(s.prom),
			persistence.WithProviderEvents(s.providerEvent), persistence.WithTracerProvider(b.tracer)}
		if err := s.openBackend(ctx); err != nil {
			if !b.waitForBackend || !retryableOpen(err) {
				return nil, err
			}
			s.noteOpenFailure(err)
		}
	default:
		return nil, errors.New("server: no persistence configured (WithPersistence or WithRegistry)")
	}
	s.metrics = newRPCMetrics(s.prom)
	s.setupMetrics() // build info and every provider's series, before anything is served
	if err := s.registerClusterGauges(); err != nil {
		return nil, s.fail(ctx, fmt.Errorf("cluster gauges: %w", err))
	}

	s.tls, s.authCfg = b.tls, b.auth
	var err error
	if s.authn, err = buildAuth(b.auth, b.tls, b.namespace); err != nil {
		return nil, s.fail(ctx, err)
	}
	s.codec = &lenientCodec{} // this server's decode errors, taken by its interceptors
	opts := append([]grpc.ServerOption{grpc.ForceServerCodec(s.codec), grpc.NumStreamWorkers(streamWorkers())}, s.transportLimits()...)
	opts = append(opts, s.interceptors()...)
	opts = append(opts, s.tracingOptions()...)
	if b.tls != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(b.tls)))
	}
	s.grpc = grpc.NewServer(opts...)
	orbitv1.RegisterNodeServiceServer(s.grpc, &nodeService{s: s})
	orbitv1.RegisterAddressableServiceServer(s.grpc, &addressableService{s: s})
	s.health = health.NewServer()
	healthpb.RegisterHealthServer(s.grpc, s.health)
	reflection.Register(s.grpc)
	s.metrics.initialize(s.grpc)
	return s, nil
}

// interceptors is the one place the interceptor chain is built, outermost
// first:
//
//	recovery      a handler panic is logged and answered Internal
//	metrics       every call counted, malformed and refused ones included
//	access log    one line per call (WithAccessLog; none when off)
//	decode check  a request that failed to decode answered InvalidArgument
//	              (and its decoding error forgotten)
//	auth          caller identified and authorized (server/auth; none when off)
//	backend gate  Unavailable while the storage backend is not open yet
//	              (WithBackendWait); health and reflection always pass
//	in flight     calls in progress on all connections (max_streams)
//	rate limit    per-caller token bucket (rate_per_second, rate_burst)
//	deadline      storage calls of a unary request bounded (backend_timeout)
//	join admission  Join refused beyond max_nodes_per_namespace, max_namespaces
//	handler
func (s *Server) interceptors() []grpc.ServerOption {
	recUnary, recStream := recoveryInterceptors(s.log)
	authUnary, authStream := s.authInterceptors()
	logUnary, logStream := s.accessLogInterceptors()
	flight := &inFlight{max: int64(s.limits.MaxStreams)}
	s.rate = newRateLimiter(s.limits.RatePerSecond, s.limits.RateBurst, s.limits.RateCallers)
	s.watches = newWatchLimiter(s.limits.MaxWatchesPerCaller, s.limits.MaxWatches)
	s.deadline = &deadline{timeout: s.limits.BackendTimeout}
	admission := newJoinAdmission(s)
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(slices.Concat(
			[]grpc.UnaryServerInterceptor{recUnary, s.metrics.unary},
			logUnary,
			[]grpc.UnaryServerInterceptor{s.codec.decodeCheckUnary},
			authUnary, // none when auth is off
			[]grpc.UnaryServerInterceptor{backendGate{s}.unary, flight.unary, s.rate.unary, s.deadline.unary, admission.unary})...),
		grpc.ChainStreamInterceptor(slices.Concat(
			[]grpc.StreamServerInterceptor{recStream, s.metrics.stream},
			logStream,
			[]grpc.StreamServerInterceptor{s.codec.decodeCheckStream},
			authStream,
			[]grpc.StreamServerInterceptor{backendGate{s}.stream, flight.stream, s.rate.stream, s.deadline.stream})...),
	}
}

// streamWorkers is how many long-lived goroutines run incoming calls: a
// call's goroutine keeps the stack the interceptor chain and handler grew,
// where a goroutine per call would grow (copy) its stack on every call
// (15% of the CPU of a locate in the in-process benchmark). When every
// worker is busy, gRPC runs the call on a new goroutine as before, so the
// pool bounds nothing.
func streamWorkers() uint32 { return uint32(32 * runtime.GOMAXPROCS(0)) }

// transportLimits are the limits gRPC enforces itself: message sizes,
// streams per connection, keepalive.
func (s *Server) transportLimits() []grpc.ServerOption {
	l := s.limits
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(l.MaxRecvMessageBytes),
		grpc.MaxSendMsgSize(l.MaxSendMessageBytes),
		grpc.MaxConcurrentStreams(uint32(min(int64(l.MaxStreamsPerConnection), math.MaxUint32))),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: l.KeepaliveMinPingInterval, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			MaxConnectionIdle: l.MaxConnectionIdle, Time: l.KeepaliveTime, Timeout: l.KeepaliveTimeout,
		}),
	}
}

func (s *Server) fail(ctx context.Context, err error) error {
	if s.ownRegistry && s.registry != nil {
		_ = s.registry.Close(ctx)
	}
	return fmt.Errorf("server: %w", err)
}

// PersistenceRegistry returns the providers the server uses.
func (s *Server) PersistenceRegistry() *persistence.Registry { return s.registry }

// Namespace returns the default namespace.
func (s *Server) Namespace() string { return s.namespace }

func (s *Server) namespaceOr(ns string) string {
	if ns == "" {
		return s.namespace
	}
	return ns
}

// Start listens and serves in the background; it returns once listening.
func (s *Server) Start(ctx context.Context) error {
	if err := s.listenAll(); err != nil {
		return err
	}
	bg, cancel := context.WithCancel(context.Background())
	s.mu.Lock()
	s.cancel = cancel
	s.mu.Unlock()
	// The background loops need the backend; without it they start once
	// the retries have opened it.
	runLoops := func() {
		s.checkHealth(bg)
		s.wg.Add(3)
		go func() { defer s.wg.Done(); s.followMembership(bg) }()
		go s.loop(bg, s.timings.SweepInterval, s.sweep)
		go s.loop(bg, s.timings.HealthInterval, s.checkHealth)
	}
	if s.backend.open.Load() {
		runLoops()
	} else {
		s.setNotServing()
		s.wg.Add(1)
		go s.openLoop(bg, runLoops)
	}
	lis := s.lis
	go func() {
		if err := s.grpc.Serve(lis); err != nil {
			s.log.Error("gRPC server stopped", "error", err)
		}
	}()
	s.log.Info("orbit server started", "grpc", lis.Addr().String(), "admin", s.AdminAddr(), "namespace", s.namespace,
		"node_lease_ttl", s.timings.NodeLeaseTTL, "addressable_lease_ttl", s.timings.AddressableLeaseTTL)
	s.warnExposure()
	return nil
}

// listenAll opens the listeners and starts the admin HTTP server.
func (s *Server) listenAll() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started || s.stopped {
		return errors.New("server: already started or stopped")
	}
	lis, err := net.Listen("tcp", s.listen)
	if err != nil {
		return fmt.Errorf("server: listen on %s: %w", s.listen, err)
	}
	s.lis = lis
	if s.adminAddr != "" {
		al, err := net.Listen("tcp", s.adminAddr)
		if err != nil {
			_ = lis.Close()
			return fmt.Errorf("server: admin listen on %s: %w", s.adminAddr, err)
		}
		s.adminLis = al
		al = s.adminListener(al)
		s.http = &http.Server{Handler: s.protectAdmin(s.adminHandler()), ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := s.http.Serve(al); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.log.Error("admin listener stopped", "error", err)
			}
		}()
	}
	s.started = true
	return nil
}

// Addr is the gRPC listen address once started.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lis == nil {
		return ""
	}
	return s.lis.Addr().String()
}

// AdminAddr is the admin HTTP listen address once started ("" if disabled).
func (s *Server) AdminAddr() string {
	if s.adminLis == nil {
		return ""
	}
	return s.adminLis.Addr().String()
}

func (s *Server) loop(ctx context.Context, every time.Duration, fn func(context.Context)) {
	defer s.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn(ctx)
		}
	}
}

// sweep removes expired nodes and leases. Every server sweeps; the
// conditional deletes make concurrent sweeps harmless.
func (s *Server) sweep(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, s.timings.SweepInterval)
	defer cancel()
	n, err := s.nodes.CleanupExpired(ctx)
	if err != nil {
		s.log.Warn("sweep of expired nodes failed", "error", err)
	}
	l, err := s.addrs.CleanupExpired(ctx)
	if err != nil {
		s.log.Warn("sweep of expired leases failed", "error", err)
	}
	if n+l > 0 {
		s.log.Info("swept expired records", "nodes", n, "leases", l)
	}
	s.metrics.swept.Add(float64(n + l))
}

// Stop drains in-flight calls (at most until ctx ends), stops the
// background loops and closes the providers it opened (the memory
// provider's final backup is taken then).
func (s *Server) Stop(ctx context.Context) error {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return nil
	}
	s.stopped = true
	started := s.started
	s.mu.Unlock()
	close(s.stopping)
	if started {
		s.health.Shutdown()
		done := make(chan struct{})
		go func() { s.grpc.GracefulStop(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			s.log.Warn("graceful stop timed out; closing remaining calls")
			s.grpc.Stop()
			<-done
		}
		s.cancel()
		s.wg.Wait()
		if s.http != nil {
			_ = s.http.Shutdown(ctx)
		}
	}
	var err error
	if s.ownRegistry && s.backend.open.Load() {
		err = s.registry.Close(ctx)
	}
	s.log.Info("orbit server stopped", "error", err)
	return err
}
