package server_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orbit-go/orbit/clock"
	"github.com/orbit-go/orbit/internal/testbackend/redistest"
	"github.com/orbit-go/orbit/persistence"
	"github.com/orbit-go/orbit/persistence/config"
	_ "github.com/orbit-go/orbit/persistence/redis"
	"github.com/orbit-go/orbit/server"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// countingProvider is a real provider whose health checks are counted.
type countingProvider struct {
	persistence.Provider
	checks atomic.Int64
}

func (p *countingProvider) HealthCheck(ctx context.Context) persistence.Health {
	p.checks.Add(1)
	return p.Provider.HealthCheck(ctx)
}

// openMemory opens a memory provider named name.
func openMemory(t *testing.T, name string, opts ...persistence.Option) persistence.Provider {
	t.Helper()
	mc := config.DefaultMemoryConfig()
	p, err := persistence.Open(bg, name, &mc, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close(bg) })
	return p
}

// registryOf registers ps under their names, the first the addressable
// default and cluster the cluster default.
func registryOf(t *testing.T, cluster string, ps ...persistence.Provider) *persistence.Registry {
	t.Helper()
	r := persistence.NewRegistry()
	for _, p := range ps {
		if err := r.Register(p.Name(), p); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.SetDefaults(ps[0].Name(), cluster); err != nil {
		t.Fatal(err)
	}
	return r
}

// startOn starts a server on reg with the admin listener on loopback.
func startOn(t *testing.T, reg *persistence.Registry, c clock.Clock, timings server.Timings) *server.Server {
	t.Helper()
	s, err := server.NewBuilder().WithListenAddress("127.0.0.1:0").WithAdminAddress("127.0.0.1:0").
		WithRegistry(reg).WithClock(c).WithTimings(timings).WithLogger(quiet).Build(bg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(bg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop(bg) })
	return s
}

func healthClient(t *testing.T, s *server.Server) healthpb.HealthClient {
	t.Helper()
	conn, err := grpc.NewClient(s.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return healthpb.NewHealthClient(conn)
}

func provider(name string) map[string]string { return map[string]string{"provider": name} }

func providerStatus(name, status string) map[string]string {
	return map[string]string{"provider": name, "status": status}
}

// Every configured provider has orbit_server_provider_up (1 while it
// serves) and a one-hot orbit_server_provider_status; when its Redis
// really stops, up turns 0 and status unhealthy, and since it is the
// cluster default the server stops being ready (/readyz 503 naming it,
// grpc.health.v1 NOT_SERVING). A provider that is no default is exported
// but does not decide readiness.
func TestProviderHealthGauges(t *testing.T) {
	redis := redistest.Start(t)
	rc := config.DefaultRedisConfig()
	rc.URL, rc.Prefix = redis.URL(), fmt.Sprintf("health-%d", time.Now().UnixNano())
	rc.DialTimeout, rc.RequestTimeout, rc.RetryCount = 1, 1, 0
	cache, err := persistence.Open(bg, "cache", &rc, persistence.WithHealthTimeout(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cache.Close(bg) })
	reg := registryOf(t, "cache", openMemory(t, "mem"), cache, openMemory(t, "spare"))
	timings := server.DefaultTimings()
	timings.HealthInterval = 50 * time.Millisecond
	s := startOn(t, reg, clock.System{}, timings)

	_, mfs := scrape(t, s)
	for _, name := range []string{"mem", "cache", "spare"} {
		if v := value(t, mfs, "orbit_server_provider_up", provider(name)); v != 1 {
			t.Errorf("provider_up{%s} = %v, want 1", name, v)
		}
		for st, want := range map[string]float64{"healthy": 1, "degraded": 0, "unhealthy": 0} {
			if v := value(t, mfs, "orbit_server_provider_status", providerStatus(name, st)); v != want {
				t.Errorf("provider_status{%s,%s} = %v, want %v", name, st, v, want)
			}
		}
		if v := value(t, mfs, "orbit_server_provider_last_check_timestamp_seconds", provider(name)); v <= 0 {
			t.Errorf("provider_last_check_timestamp_seconds{%s} = %v, want a time", name, v)
		}
	}
	code, body := httpGet(t, "http://"+s.AdminAddr()+"/readyz")
	if code != http.StatusOK || !strings.Contains(body, "cache: Healthy\n") || !strings.Contains(body, "spare: Healthy [not a default") {
		t.Fatalf("/readyz with every provider healthy: %d %q", code, body)
	}

	redis.Stop(t)
	waitUntil(t, "provider_up{cache} to turn 0", func() bool {
		_, mfs := scrape(t, s)
		m, ok := series(mfs, "orbit_server_provider_up", provider("cache"))
		return ok && m.GetGauge().GetValue() == 0
	})
	_, mfs = scrape(t, s)
	for st, want := range map[string]float64{"healthy": 0, "degraded": 0, "unhealthy": 1} {
		if v := value(t, mfs, "orbit_server_provider_status", providerStatus("cache", st)); v != want {
			t.Errorf("after Redis stopped: provider_status{cache,%s} = %v, want %v", st, v, want)
		}
	}
	if v := value(t, mfs, "orbit_server_provider_up", provider("mem")); v != 1 {
		t.Errorf("after Redis stopped: provider_up{mem} = %v, want 1", v)
	}
	code, body = httpGet(t, "http://"+s.AdminAddr()+"/readyz")
	if code != http.StatusServiceUnavailable || !strings.HasPrefix(body, `not ready: default provider "cache" is unhealthy`) {
		t.Fatalf("/readyz with the cluster default down: %d %q", code, body)
	}
	resp, err := healthClient(t, s).Check(bg, &healthpb.HealthCheckRequest{})
	if err != nil || resp.Status != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("gRPC health with the cluster default down: %v, %v", resp, err)
	}
	var found bool
	for _, st := range s.ProviderStatuses() {
		if st.Name == "cache" {
			found = true
			if st.Health.Status != persistence.Unhealthy || st.Health.Reason == "" {
				t.Errorf("ProviderStatuses cache = %+v, want Unhealthy with a reason", st.Health)
			}
		}
	}
	if !found {
		t.Error("ProviderStatuses lacks cache")
	}
}

// /readyz and grpc.health.v1 answer from the health loop's last round:
// probing them calls no provider's HealthCheck.
func TestReadinessProbesCallNoBackend(t *testing.T) {
	p := &countingProvider{Provider: openMemory(t, "mem")}
	timings := server.DefaultTimings()
	timings.HealthInterval = time.Hour // one round, at Start
	s := startOn(t, registryOf(t, "mem", p), clock.NewManual(time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)), timings)
	before := p.checks.Load()
	if before == 0 {
		t.Fatal("the health loop did not check the provider at Start")
	}
	hc := healthClient(t, s)
	const probes = 20
	for range probes {
		if code, body := httpGet(t, "http://"+s.AdminAddr()+"/readyz"); code != http.StatusOK || !strings.Contains(body, "mem: Healthy") {
			t.Fatalf("/readyz: %d %q", code, body)
		}
		resp, err := hc.Check(bg, &healthpb.HealthCheckRequest{})
		if err != nil || resp.Status != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("gRPC health: %v, %v", resp, err)
		}
	}
	if after := p.checks.Load(); after != before {
		t.Fatalf("%d probes made %d health checks, want none", 2*probes, after-before)
	}
}

// /readyz names the time of the last round and its age; a round older
// than three health intervals is stale: not ready, with the reason.
func TestReadyzStale(t *testing.T) {
	clk := clock.NewManual(time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))
	timings := server.DefaultTimings()
	timings.HealthInterval = time.Hour // no round but Start's
	s := startOn(t, registryOf(t, "mem", openMemory(t, "mem")), clk, timings)
	code, body := httpGet(t, "http://"+s.AdminAddr()+"/readyz")
	if code != http.StatusOK || !strings.Contains(body, "last health check: 2026-06-01T00:00:00Z (0s ago; stale after 3h0m0s)") {
		t.Fatalf("/readyz: %d %q", code, body)
	}
	clk.Advance(2 * time.Hour)
	if code, body := httpGet(t, "http://"+s.AdminAddr()+"/readyz"); code != http.StatusOK || !strings.Contains(body, "(2h0m0s ago;") {
		t.Fatalf("/readyz 2 h later: %d %q", code, body)
	}
	clk.Advance(time.Hour + time.Second)
	code, body = httpGet(t, "http://"+s.AdminAddr()+"/readyz")
	if code != http.StatusServiceUnavailable || !strings.HasPrefix(body, "not ready: the last health check is stale: 3h0m1s old") {
		t.Fatalf("/readyz after three intervals: %d %q", code, body)
	}
}
