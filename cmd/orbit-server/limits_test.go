package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orbit-go/orbit/client"
	"github.com/orbit-go/orbit/persistence"
)

// TestServeAppliesLimits runs the real binary with a [server.limits] table:
// a second node joining a namespace limited to one is refused, the error
// naming the key, and `config show` renders the table.
func TestServeAppliesLimits(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs orbit-server")
	}
	path := filepath.Join(t.TempDir(), "orbit.toml")
	writeFile(t, path, "[providers.mem]\ntype = \"Memory\"\n\n[server.limits]\nmax_nodes_per_namespace = 1\n")
	if code, out, errOut := runCLI(t, "config", "show", path); code != 0 || !strings.Contains(out, "[server.limits]") ||
		!strings.Contains(out, "max_nodes_per_namespace = 1") {
		t.Fatalf("config show: exit %d\n%s%s", code, out, errOut)
	}
	addr := freeAddr(t)
	startServerProcess(t, buildServer(t), "server", "serve", "--config", path, "--listen", addr, "--admin-addr", "", "--log-level", "warn")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := dialRetry(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	opts := func(key string) client.NodeOptions {
		return client.NodeOptions{Key: key, URL: "grpc://127.0.0.1:9000", Capabilities: persistence.NodeCapabilities{AddressableTypes: []string{"Greeter"}}}
	}
	n, err := c.Join(ctx, opts("node-a"))
	if err != nil {
		t.Fatal(err)
	}
	defer n.Leave(ctx)
	if _, err := c.Join(ctx, opts("node-b")); err == nil || !strings.Contains(err.Error(), "server.limits.max_nodes_per_namespace") {
		t.Fatalf("second join into a namespace limited to one node: %v, want an error naming server.limits.max_nodes_per_namespace", err)
	}
}
