package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/orbit-go/orbit/client"
	"github.com/orbit-go/orbit/persistence"
)

// TestServeWritesAuditFile runs the real binary with [server.audit] sink =
// "file": the join and the placement made just before SIGTERM are in the
// file once the process has exited (the log is flushed after the drain),
// as JSON lines, and the file is private (0600).
func TestServeWritesAuditFile(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs orbit-server")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "orbit-server")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	auditPath := filepath.Join(dir, "log", "audit.log")
	cfgPath := filepath.Join(dir, "orbit.toml")
	cfg := `
[defaults]
addressable = "mem"
cluster = "mem"

[providers.mem]
type = "Memory"

[server.audit]
sink = "file"
path = "` + auditPath + `"
max_size_mb = 10
`
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	cmd := exec.Command(bin, "serve", "--config", cfgPath, "--listen", addr, "--admin-addr", "", "--log-level", "warn")
	cmd.Stderr = &prefixWriter{t: t, prefix: "server: "}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := dialRetry(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	n, err := c.Join(ctx, client.NodeOptions{Key: "node-a", URL: "grpc://127.0.0.1:9000", Capabilities: persistence.NodeCapabilities{AddressableTypes: []string{"Greeter"}}})
	if err != nil {
		t.Fatal(err)
	}
	ref := persistence.AddressableReference{Namespace: "default", Type: "Greeter", Key: persistence.StringKey("alice")}
	if _, _, err := c.LocateOrPlace(ctx, ref); err != nil {
		t.Fatal(err)
	}
	n.Detach()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("orbit-server after SIGTERM: %v (want exit 0)", err)
		}
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("orbit-server did not exit within 20 s of SIGTERM")
	}

	st, err := os.Stat(auditPath)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("audit file: %v, %v (want mode 0600)", st, err)
	}
	b, err := os.ReadFile(auditPath)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var e struct{ Event, Outcome, Node, Reference, Peer string }
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		if e.Node != "node-a" || e.Outcome != "ok" || !strings.HasPrefix(e.Peer, "127.0.0.1:") {
			t.Errorf("audit line %q", line)
		}
		kinds = append(kinds, e.Event)
	}
	if strings.Join(kinds, ",") != "node.join,addressable.place" {
		t.Fatalf("audit events %v, want the join and the placement:\n%s", kinds, b)
	}
}
