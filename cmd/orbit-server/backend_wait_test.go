package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	orbitv1 "github.com/orbit-go/orbit/api/orbit/v1"
	"github.com/orbit-go/orbit/client"
	"github.com/orbit-go/orbit/internal/testbackend/redistest"
	"github.com/orbit-go/orbit/persistence"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// serve with its Redis down starts anyway: /readyz answers 503 naming the
// reason, calls are refused with Unavailable; once Redis starts, the same
// process becomes ready (no restart) and serves. --fail-fast exits 1
// instead. The time from Redis's start to the first 200 of /readyz is
// logged (the retries are at most about 1.2 s apart), not asserted.
func TestServeWaitsForItsBackend(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs orbit-server")
	}
	redis := redistest.Start(t)
	redis.Stop(t)
	bin := buildServer(t)
	cfgPath := filepath.Join(t.TempDir(), "orbit.toml")
	writeFile(t, cfgPath, fmt.Sprintf("[providers.redis]\ntype = \"Redis\"\nurl = %q\n", redis.URL()))

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "serve", "--config", cfgPath, "--listen", freeAddr(t), "--admin-addr", "", "--fail-fast").CombinedOutput()
	if code := exitCode(err); code != 1 || !strings.Contains(string(out), "redis") {
		t.Fatalf("--fail-fast with Redis down: exit %d (want 1)\n%s", code, out)
	}

	addr, admin := freeAddr(t), freeAddr(t)
	startServerProcess(t, bin, "server", "serve", "--config", cfgPath, "--listen", addr, "--admin-addr", admin, "--log-level", "info")
	readyz := func() (int, string) {
		resp, err := http.Get("http://" + admin + "/readyz")
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	var code int
	var body string
	for code, body = readyz(); code == 0 && ctx.Err() == nil; code, body = readyz() {
		time.Sleep(20 * time.Millisecond) // the admin listener is not up yet
	}
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "not available yet") || !strings.Contains(body, "redis") {
		t.Fatalf("/readyz with Redis down: %d %q; want 503 naming the reason", code, body)
	}
	// The Go client waits for a SERVING server (it health-checks); a raw
	// call shows what a caller is answered meanwhile.
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, err = orbitv1.NewNodeServiceClient(conn).Join(ctx, &orbitv1.JoinRequest{NodeKey: "node-a", Url: "grpc://127.0.0.1:9000"})
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "not available yet") || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("Join with Redis down: %v; want Unavailable naming the reason", err)
	}
	hc, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || hc.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("health with Redis down: %v, %v; want NOT_SERVING", hc, err)
	}
	time.Sleep(1500 * time.Millisecond) // let the retries reach their longest interval
	redis.Restart(t)
	up := time.Now()
	for code, body = readyz(); code != http.StatusOK && ctx.Err() == nil; code, body = readyz() {
		time.Sleep(10 * time.Millisecond)
	}
	if code != http.StatusOK {
		t.Fatalf("/readyz after Redis started: %d %q", code, body)
	}
	t.Logf("ready %s after Redis started (readyz: %q)", time.Since(up).Round(time.Millisecond), strings.TrimSpace(body))
	c, err := dialRetry(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	join := client.NodeOptions{Key: "node-a", URL: "grpc://127.0.0.1:9000", Capabilities: persistence.NodeCapabilities{AddressableTypes: []string{"Greeter"}}}
	n, err := c.Join(ctx, join)
	if err != nil {
		t.Fatalf("Join once ready: %v", err)
	}
	ref := persistence.AddressableReference{Namespace: "default", Type: "Greeter", Key: persistence.StringKey("alice")}
	if lease, _, err := c.LocateOrPlace(ctx, ref); err != nil || lease.Node != n.ID() {
		t.Fatalf("LocateOrPlace once ready: %+v, %v", lease, err)
	}
	_ = n.Leave(ctx)
}

// exitCode is the exit code of a finished command's error (0 for nil).
func exitCode(err error) int {
	var ee *exec.ExitError
	if err == nil {
		return 0
	}
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}
