package server_test

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orbit-go/orbit/internal/testbackend/redistest"
	"github.com/orbit-go/orbit/persistence"
	"github.com/orbit-go/orbit/persistence/composite"
	"github.com/orbit-go/orbit/persistence/config"
	"github.com/orbit-go/orbit/server"
	"github.com/orbit-go/orbit/server/audit"
)

// A composite provider's failover (redis-server killed) and failback
// (restarted) are audit events of the server that serves on it.
func TestAuditCompositeSwitches(t *testing.T) {
	redis := redistest.Start(t)
	toml := fmt.Sprintf(`
[providers.ha]
type = "Composite"
health_check_interval = 1
failover_threshold = 1

[providers.ha.primary]
type = "Redis"
url = %q
request_timeout = 1
dial_timeout = 1

[providers.ha.backup]
type = "Memory"
`, redis.URL())
	cfg, err := config.Parse([]byte(toml), config.FormatTOML, filepath.Join(t.TempDir(), "orbit.toml"))
	if err != nil {
		t.Fatal(err)
	}
	sink := &lockedBuffer{}
	log := audit.New(sink)
	s, err := server.NewBuilder().WithListenAddress("127.0.0.1:0").WithAdminAddress("").WithPersistence(cfg).
		WithLogger(quiet).WithAudit(log).Build(bg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(bg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop(bg); _ = log.Close() })

	waitFor := func(kind string) map[string]any {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for time.Now().Before(deadline) {
			if err := log.Flush(bg); err != nil {
				t.Fatal(err)
			}
			for _, line := range strings.Split(sink.String(), "\n") {
				var ev map[string]any
				if json.Unmarshal([]byte(line), &ev) == nil && ev["event"] == kind {
					return ev
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("no %s event; audit log:\n%s", kind, sink.String())
		return nil
	}
	// Fail over only once the backup is known to hold every write (the
	// first synchronisation after start); before, the composite refuses.
	p, err := s.PersistenceRegistry().DefaultAddressableProvider()
	if err != nil {
		t.Fatal(err)
	}
	store := persistence.StoreOf(p).(*composite.Store)
	for deadline := time.Now().Add(30 * time.Second); store.Status().StandbyBehind; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the backup never synchronised: %+v", store.Status())
		}
	}
	redis.Kill(t)
	ev := waitFor(string(audit.Failover))
	if ev["from"] != "ha.primary" || ev["to"] != "ha.backup" || ev["outcome"] != "ok" {
		t.Fatalf("failover event: %v; want from ha.primary to ha.backup, ok", ev)
	}
	redis.Restart(t)
	back := waitFor(string(audit.Failback))
	if back["from"] != ev["to"] || back["to"] != ev["from"] {
		t.Fatalf("failback %v does not reverse failover %v", back, ev)
	}
}
