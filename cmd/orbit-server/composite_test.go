package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orbit-go/orbit/internal/testbackend/redistest"
	"github.com/orbit-go/orbit/persistence"
	"github.com/orbit-go/orbit/persistence/composite"
	"github.com/orbit-go/orbit/persistence/config"
	"github.com/orbit-go/orbit/persistence/driver"
)

func TestCompositeStatusAndFailback(t *testing.T) {
	srv := redistest.Start(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "ha.toml")
	writeFile(t, path, fmt.Sprintf(`
[providers.ha]
type = "Composite"
failback = "manual"
[providers.ha.primary]
type = "Memory"
[providers.ha.backup]
type = "Redis"
url = %q

[providers.solo]
type = "Memory"

[providers.local]
type = "Composite"
[providers.local.primary]
type = "Redis"
url = %q
[providers.local.backup]
type = "Memory"

[defaults]
addressable = "ha"
cluster = "ha"
`, srv.URL(), srv.URL()))

	code, out, errOut := runCLI(t, "composite", "status", "--config", path, "--provider", "ha")
	if code != 0 || !strings.Contains(out, "active primary") || !strings.Contains(out, "generation 0") {
		t.Fatalf("status of a fresh composite: exit %d\n%s%s", code, out, errOut)
	}

	// A server failed over: the state record on the backup names the backup.
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	backup, err := persistence.OpenStore(context.Background(), "ha.backup", cfg.Providers["ha"].(*config.CompositeConfig).Backup)
	if err != nil {
		t.Fatal(err)
	}
	defer backup.Close(context.Background())
	if _, err := backup.Put(context.Background(), composite.StateKey,
		[]byte(`{"active":"backup","generation":3,"since":"2026-11-26T01:02:03Z"}`), driver.CreateOnly()); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = runCLI(t, "composite", "status", "--config", path, "--provider", "ha")
	if code != 0 || !strings.Contains(out, "active backup since 2026-11-26T01:02:03Z (generation 3, failback requested: false") {
		t.Fatalf("status after a failover: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = runCLI(t, "composite", "failback", "--config", path, "--provider", "ha")
	if code != 0 || !strings.Contains(out, "failback requested: true") {
		t.Fatalf("failback: exit %d\n%s%s", code, out, errOut)
	}
	st, err := composite.ReadState(context.Background(), backup)
	if err != nil || !st.FailbackRequested || st.Active != composite.Backup || st.Generation != 3 {
		t.Fatalf("state after the request: %+v %v", st, err)
	}

	for _, tc := range []struct{ provider, want string }{
		{"nope", `no provider named "nope"`},
		{"solo", `provider "solo" is of type Memory, not Composite`},
		{"local", "its backup is a Memory provider"},
	} {
		code, _, errOut := runCLI(t, "composite", "failback", "--config", path, "--provider", tc.provider)
		if code != 1 || !strings.Contains(errOut, tc.want) {
			t.Errorf("--provider %s: exit %d, stderr %q, want %q", tc.provider, code, errOut, tc.want)
		}
	}
	if code, _, errOut := runCLI(t, "composite", "status", "--config", path); code != 2 || !strings.Contains(errOut, "--provider NAME") {
		t.Errorf("missing --provider: exit %d, %q (want 2: a usage error)", code, errOut)
	}
}
