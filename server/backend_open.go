package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/orbit-go/orbit"
	orbitv1 "github.com/orbit-go/orbit/api/orbit/v1"
	"github.com/orbit-go/orbit/persistence"
	"github.com/orbit-go/orbit/persistence/config"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// Opening the storage backend while serving. With WithBackendWait, a
// server whose default providers cannot be opened at Build because their
// backend is unreachable (orbit.ErrUnavailable, or no answer in time) still
// builds and starts: it listens, answers grpc.health.v1 NOT_SERVING and /readyz 503
// with the reason, refuses every other call with Unavailable naming the
// reason, and retries the opening with backoff until it succeeds; then it
// serves as if it had opened them at Build. This is what an orchestrator
// expects of a server whose backend is not up yet (NotReady and retrying,
// not a crash loop).

// Backoff of the opening retries: 250 ms growing to 1 s (±20%), so that the
// server serves about a second after its backend comes up, for the price of
// one connection attempt a second while it is down.
const (
	openRetryFirst  = 250 * time.Millisecond
	openRetryMax    = time.Second
	openRetryJitter = 0.2
)

// WithBackendWait sets whether the server starts while its default
// providers cannot be opened (true), retrying in the background, or fails
// at Build (false, the default: what a script or test wants).
func (b *Builder) WithBackendWait(wait bool) *Builder { b.waitForBackend = wait; return b }

// backendState is the server's persistence until it is open: the
// configuration to open and the last failure.
type backendState struct {
	open    atomic.Bool // the registry is attached: every call may run
	cfg     *config.Config
	opts    []persistence.Option
	lastErr atomic.Pointer[string] // why the last opening failed
}

// retryableOpen tells the failures of opening that waiting can cure: the
// backend is unreachable or did not answer in time. Others (a bad
// configuration, a backup file locked by another process, corrupt data) fail
// Build even with WithBackendWait.
func retryableOpen(err error) bool {
	return errors.Is(err, orbit.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded)
}

// usedConfig is cfg reduced to the two default providers: only they serve;
// others in the file (a migration target, say) are not opened.
func usedConfig(cfg *config.Config) *config.Config {
	used := &config.Config{Defaults: cfg.Defaults, Source: cfg.Source, Providers: map[string]config.ProviderConfig{}}
	for _, name := range []string{cfg.Defaults.Addressable, cfg.Defaults.Cluster} {
		if pc, ok := cfg.Providers[name]; ok {
			used.Providers[name] = pc
		}
	}
	return used
}

// openBackend opens the configured providers and attaches them.
func (s *Server) openBackend(ctx context.Context) error {
	r, err := persistence.OpenRegistry(ctx, s.backend.cfg, s.backend.opts...)
	if err != nil {
		return fmt.Errorf("server: open persistence: %w", err)
	}
	if err := s.attach(r, true); err != nil {
		_ = r.Close(ctx)
		return fmt.Errorf("server: %w", err)
	}
	return nil
}

// attach makes r the server's persistence. Everything a call needs is set
// before backend.open is, so a call that sees it open sees them.
func (s *Server) attach(r *persistence.Registry, own bool) error {
	ap, err := r.DefaultAddressableProvider()
	if err != nil {
		return err
	}
	cp, err := r.DefaultClusterProvider()
	if err != nil {
		return err
	}
	s.registry, s.ownRegistry = r, own
	s.addrs, s.nodes = ap.Addressables(), cp.Nodes()
	s.cache = newNodeCache(s.nodes, s.clock, s.timings.NodeCacheTTL)
	s.backend.open.Store(true)
	return nil
}

// noteOpenFailure records why opening failed, for health and refusals.
func (s *Server) noteOpenFailure(err error) {
	msg := strings.ReplaceAll(err.Error(), "\n", "; ")
	s.backend.lastErr.Store(&msg)
}

// backendPending returns why the backend is not open yet ("" once open).
func (s *Server) backendPending() string {
	if s.backend.open.Load() {
		return ""
	}
	if p := s.backend.lastErr.Load(); p != nil {
		return *p
	}
	return "not opened yet"
}

// openLoop retries opening the backend with backoff until it opens or ctx
// ends; then it runs started (the background loops).
func (s *Server) openLoop(ctx context.Context, started func()) {
	defer s.wg.Done()
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval, bo.MaxInterval, bo.RandomizationFactor = openRetryFirst, openRetryMax, openRetryJitter
	for attempt := 1; ; attempt++ {
		wait := bo.NextBackOff()
		level := slog.LevelDebug
		if attempt == 1 || attempt%30 == 0 { // about every 30 s while it lasts
			level = slog.LevelWarn
		}
		s.log.Log(ctx, level, "storage backend not available: serving NOT_SERVING and retrying",
			"attempt", attempt, "retry_in", wait.Round(time.Millisecond), "reason", s.backendPending())
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		octx, cancel := context.WithTimeout(ctx, s.limits.BackendTimeout)
		err := s.openBackend(octx)
		cancel()
		if err == nil {
			s.log.Info("storage backend opened: serving", "attempts", attempt+1)
			started()
			return
		}
		if ctx.Err() != nil {
			return
		}
		s.noteOpenFailure(err)
	}
}

// setNotServing reports every service NOT_SERVING.
func (s *Server) setNotServing() {
	st := healthpb.HealthCheckResponse_NOT_SERVING
	s.health.SetServingStatus("", st)
	s.health.SetServingStatus(orbitv1.NodeService_ServiceDesc.ServiceName, st)
	s.health.SetServingStatus(orbitv1.AddressableService_ServiceDesc.ServiceName, st)
}

// backendGate refuses the calls that need the backend while it is not
// open: every call but health checks and reflection.
type backendGate struct{ s *Server }

func (g backendGate) check(method string) error {
	if g.s.backend.open.Load() || strings.HasPrefix(method, "/grpc.health.v1.") || strings.HasPrefix(method, "/grpc.reflection.") {
		return nil
	}
	return status.Errorf(codes.Unavailable, "the storage backend is not available yet (the server retries): %s", g.s.backendPending())
}

func (g backendGate) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if err := g.check(info.FullMethod); err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

func (g backendGate) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if err := g.check(info.FullMethod); err != nil {
		return err
	}
	return handler(srv, ss)
}
