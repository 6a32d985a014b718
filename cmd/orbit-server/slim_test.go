package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The build tags leave providers out: an orbit_minimal binary lists only
// Memory and Composite and refuses a Redis configuration by name; with
// orbit_no_redis the Redis driver is not even among the dependencies.
func TestSlimBuildLeavesProvidersOut(t *testing.T) {
	if testing.Short() {
		t.Skip("builds orbit-server")
	}
	bin := filepath.Join(t.TempDir(), "orbit-server-minimal")
	if out, err := exec.Command("go", "build", "-tags", "orbit_minimal", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build -tags orbit_minimal: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "providers: Composite, Memory\n") {
		t.Fatalf("orbit_minimal version: %v\n%s", err, out)
	}
	cfg := filepath.Join(t.TempDir(), "redis.toml")
	writeFile(t, cfg, "[providers.redis]\ntype = \"Redis\"\nurl = \"redis://127.0.0.1:1\"\n")
	out, err = exec.Command(bin, "serve", "--config", cfg, "--listen", "127.0.0.1:0", "--admin-addr", "off").CombinedOutput()
	if exitCode(err) != 1 || !strings.Contains(string(out), "not available in this build") {
		t.Fatalf("orbit_minimal serving Redis: exit %d (want 1 naming the missing type)\n%s", exitCode(err), out)
	}
	for _, tc := range []struct {
		tags    string
		without string
	}{
		{"orbit_no_redis", "github.com/orbit-go/orbit/persistence/redis"},
		{"orbit_no_kubernetes", "k8s.io/client-go/kubernetes"},
	} {
		deps, err := exec.Command("go", "list", "-tags", tc.tags, "-deps", ".").CombinedOutput()
		if err != nil {
			t.Fatalf("go list -tags %s: %v\n%s", tc.tags, err, deps)
		}
		if strings.Contains(string(deps), tc.without+"\n") {
			t.Errorf("-tags %s still links %s", tc.tags, tc.without)
		}
		if !strings.Contains(string(deps), "github.com/orbit-go/orbit/persistence/memory\n") {
			t.Errorf("-tags %s lost the memory provider", tc.tags)
		}
	}
}
