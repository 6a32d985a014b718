package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/orbit-go/orbit/client"
	"github.com/orbit-go/orbit/persistence"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	rpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
)

// TestServeDefaultSurvivesRestart runs the real binary on its embedded
// default: a placement made before SIGTERM is still there after a restart
// (the final backup), the process exits 0, and reflection lists the API.
func TestServeDefaultSurvivesRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs orbit-server")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "orbit-server")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	addr := freeAddr(t)
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "serve", "--listen", addr, "--admin-addr", "", "--data-dir", filepath.Join(dir, "data"), "--log-level", "warn")
		cmd.Stderr = &prefixWriter{t: t, prefix: "server: "}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	stop := func(cmd *exec.Cmd) {
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
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ref := persistence.AddressableReference{Namespace: "default", Type: "Greeter", Key: persistence.StringKey("alice")}

	cmd := start()
	c, err := dialRetry(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	n, err := c.Join(ctx, client.NodeOptions{Key: "node-a", URL: "grpc://127.0.0.1:9000", Capabilities: persistence.NodeCapabilities{AddressableTypes: []string{"Greeter"}}})
	if err != nil {
		t.Fatal(err)
	}
	placed, _, err := c.LocateOrPlace(ctx, ref)
	if err != nil || placed.Node != n.ID() {
		t.Fatalf("placement = %+v, %v", placed, err)
	}
	// Reflection is on (grpcurl works).
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	stream, err := rpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&rpb.ServerReflectionRequest{MessageRequest: &rpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, s := range resp.GetListServicesResponse().GetService() {
		names[s.GetName()] = true
	}
	if !names["orbit.v1.NodeService"] || !names["orbit.v1.AddressableService"] || !names["grpc.health.v1.Health"] {
		t.Fatalf("reflection lists %v", names)
	}
	_ = conn.Close()
	n.Detach() // keep the node record: the restarted server must still know it
	stop(cmd)
	_ = c.Close()
	if _, err := os.Stat(filepath.Join(dir, "data", "orbit-backup.orbit")); err != nil {
		t.Fatalf("no backup after SIGTERM: %v", err)
	}

	cmd = start()
	defer stop(cmd)
	c2, err := dialRetry(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	page, err := c2.ListNodeLeases(ctx, n.ID(), "", 10)
	if err != nil {
		t.Fatal(err)
	}
	leases := page.Leases
	if len(leases) != 1 || leases[0].Epoch != placed.Epoch || leases[0].Reference != ref {
		t.Fatalf("after restart the node holds %+v; want the lease placed before SIGTERM (epoch %d)", leases, placed.Epoch)
	}
}
