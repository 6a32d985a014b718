package composite_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orbit-go/orbit/internal/testbackend/redistest"
	"github.com/orbit-go/orbit/persistence"
	"github.com/orbit-go/orbit/persistence/composite"
	"github.com/orbit-go/orbit/persistence/config"
	_ "github.com/orbit-go/orbit/persistence/memory"
	_ "github.com/orbit-go/orbit/persistence/redis"
)

func compositeTOML(redisURL, dir string) string {
	return fmt.Sprintf(`
[providers.ha]
type = "Composite"
health_check_interval = 1
failover_threshold = 1
sync_interval = 60

[providers.ha.primary]
type = "Redis"
url = %q
request_timeout = 1
dial_timeout = 1

[providers.ha.backup]
type = "Memory"

[providers.ha.backup.disk_backup]
path = %q
sync_interval = 60
compression = "Zstd"
`, redisURL, filepath.Join(dir, "backup.bin"))
}

func openHA(t *testing.T, toml string) persistence.Provider {
	t.Helper()
	cfg, err := config.Parse([]byte(toml), config.FormatTOML, "test.toml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := persistence.Open(context.Background(), "ha", cfg.Providers["ha"], persistence.WithLogger(newTestLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func waitActive(t *testing.T, p persistence.Provider, want composite.Side) {
	t.Helper()
	s := persistence.StoreOf(p).(*composite.Store)
	deadline := time.Now().Add(30 * time.Second)
	for s.Active() != want {
		if time.Now().After(deadline) {
			t.Fatalf("still not on the %s: %+v", want, s.Status())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The provider opened from its TOML configuration: failover, a restart of
// the server while the primary is still down (it starts on the backup,
// whose disk backup kept the leases and the state record), failback.
func TestOpenFromConfigAndRestartDuringOutage(t *testing.T) {
	srv := redistest.Start(t)
	toml := compositeTOML(srv.URL(), t.TempDir())
	ctx := context.Background()
	p := openHA(t, toml)
	if p.Type() != "Composite" {
		t.Fatalf("type %q", p.Type())
	}
	r := ref(1)
	l, err := p.Addressables().Place(ctx, r, node("a"), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	srv.Kill(t)
	waitActive(t, p, composite.Backup)
	if h := p.HealthCheck(ctx); h.Status != persistence.Degraded || !strings.Contains(h.Reason, "running on the backup") {
		t.Fatalf("health on the backup: %v", h)
	}
	during, err := p.Addressables().Place(ctx, ref(2), node("b"), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}

	// Restart while redis-server is down.
	p = openHA(t, toml)
	t.Cleanup(func() { _ = p.Close(ctx) })
	if got := persistence.StoreOf(p).(*composite.Store).Active(); got != composite.Backup {
		t.Fatalf("restarted on the %s", got)
	}
	for _, want := range []persistence.AddressableLease{l, during} {
		if got, err := p.Addressables().Get(ctx, want.Reference); err != nil || !got.Equal(want) {
			t.Fatalf("after restart: %v %v, want %v", got, err, want)
		}
	}
	srv.Restart(t)
	waitActive(t, p, composite.Primary)
	raw := persistence.NewProvider("raw", "Redis", openRedis(t, srv, "", 5)).Addressables()
	for _, want := range []persistence.AddressableLease{l, during} {
		if got, err := raw.Get(ctx, want.Reference); err != nil || !got.Equal(want) {
			t.Fatalf("primary after failback: %v %v, want %v", got, err, want)
		}
	}
}

// A primary that is down when a server starts, with the state record naming
// the primary, fails Open: nothing can serve, and the backup may not be
// promoted without knowing it holds every write.
func TestOpenWithPrimaryDownAndNoFailover(t *testing.T) {
	srv := redistest.Start(t)
	url := srv.URL()
	srv.Kill(t)
	cfg, err := config.Parse([]byte(compositeTOML(url, t.TempDir())), config.FormatTOML, "test.toml")
	if err != nil {
		t.Fatal(err)
	}
	_, err = persistence.Open(context.Background(), "ha", cfg.Providers["ha"])
	if !errors.Is(err, persistence.ErrUnavailable) || !strings.Contains(err.Error(), "primary") {
		t.Fatalf("open: %v", err)
	}
}
