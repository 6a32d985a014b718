package server_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/orbit-go/orbit/internal/testbackend"
	"github.com/orbit-go/orbit/persistence/config"
	"github.com/orbit-go/orbit/server"
)

// While the backend cannot be opened (WithBackendWait, a Redis URL where
// nothing listens), the admin port already exports orbit_build_info and
// every configured provider as down (up 0, status unhealthy, never
// checked), and /readyz answers 503 with the reason.
func TestMetricsBeforeBackendOpens(t *testing.T) {
	rc := config.DefaultRedisConfig()
	rc.URL = fmt.Sprintf("redis://127.0.0.1:%d", testbackend.FreePorts(t, 1)[0])
	rc.DialTimeout, rc.RequestTimeout, rc.RetryCount = 1, 1, 0
	cfg, err := config.NewBuilder().WithRedis("down", rc, true).Build()
	if err != nil {
		t.Fatal(err)
	}
	timings := server.DefaultTimings()
	timings.HealthInterval = 50 * time.Millisecond
	s, err := server.NewBuilder().WithListenAddress("127.0.0.1:0").WithAdminAddress("127.0.0.1:0").WithPersistence(cfg).
		WithBackendWait(true).WithTimings(timings).WithBuildInfo(server.BuildInfo{Version: "9.9.9"}).WithLogger(quiet).Build(bg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(bg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop(bg) })

	_, mfs := scrape(t, s)
	if v := value(t, mfs, "orbit_build_info", map[string]string{"version": "9.9.9"}); v != 1 {
		t.Errorf("orbit_build_info = %v, want 1", v)
	}
	if v := value(t, mfs, "orbit_server_provider_up", provider("down")); v != 0 {
		t.Errorf("provider_up{down} = %v, want 0", v)
	}
	if v := value(t, mfs, "orbit_server_provider_status", providerStatus("down", "unhealthy")); v != 1 {
		t.Errorf("provider_status{down,unhealthy} = %v, want 1", v)
	}
	if v := value(t, mfs, "orbit_server_provider_last_check_timestamp_seconds", provider("down")); v != 0 {
		t.Errorf("provider_last_check_timestamp_seconds{down} = %v, want 0 (never checked)", v)
	}
	code, body := httpGet(t, "http://"+s.AdminAddr()+"/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "not available yet") {
		t.Errorf("/readyz with the backend down: %d %q", code, body)
	}
}
