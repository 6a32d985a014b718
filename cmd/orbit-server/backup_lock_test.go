package main

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A second orbit-server process on the same memory backup file fails at
// start, naming the file and the process that holds it; the first goes on
// serving, and once it has stopped the file can be used again.
func TestSecondServerOnTheSameBackupFails(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs orbit-server")
	}
	bin := buildServer(t)
	data := filepath.Join(t.TempDir(), "data")
	addr := freeAddr(t)
	first := startServerProcess(t, bin, "first", "serve", "--listen", addr, "--admin-addr", "", "--data-dir", data, "--log-level", "warn")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := dialRetry(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	second := exec.CommandContext(ctx, bin, "serve", "--listen", freeAddr(t), "--admin-addr", "", "--data-dir", data)
	out, err := second.CombinedOutput()
	if err == nil || second.ProcessState.ExitCode() != 1 {
		t.Fatalf("second server on the same backup: %v (want exit 1)\n%s", err, out)
	}
	backup := filepath.Join(data, "orbit-backup.orbit")
	for _, want := range []string{backup, "in use by another process", fmt.Sprintf("pid %d ", first.cmd.Process.Pid), "needs a disk_backup.path of its own"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("second server's message lacks %q:\n%s", want, out)
		}
	}
	// The first still serves.
	if _, err := c.ListNodes(ctx, false); err != nil {
		t.Fatalf("first server after the refused second: %v", err)
	}
	// Stopped, it gives the file up.
	stopProcess(t, first)
	third := startServerProcess(t, bin, "third", "serve", "--listen", addr, "--admin-addr", "", "--data-dir", data, "--log-level", "warn")
	c3, err := dialRetry(ctx, addr)
	if err != nil {
		t.Fatalf("a server on the backup after the first stopped: %v", err)
	}
	_ = c3.Close()
	stopProcess(t, third)
}

// stopProcess sends SIGTERM and waits (up to 20 s) for p to exit.
func stopProcess(t *testing.T, p *serverProcess) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("%s: SIGTERM: %v", p.name, err)
	}
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("%s did not exit within 20 s of SIGTERM", p.name)
	}
	p.cmd = nil
}

// The same for the Flash provider: a second process on the same data
// directory fails at start naming the directory, not retried as an
// unavailable backend would be.
func TestSecondServerOnTheSameFlashPathFails(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs orbit-server")
	}
	bin := buildServer(t)
	dir := filepath.Join(t.TempDir(), "flash")
	cfg := filepath.Join(t.TempDir(), "flash.toml")
	writeFile(t, cfg, fmt.Sprintf("[providers.flash]\ntype = \"Flash\"\ndata_dir = %q\n", dir))
	addr := freeAddr(t)
	startServerProcess(t, bin, "first", "serve", "--config", cfg, "--listen", addr, "--admin-addr", "", "--log-level", "warn")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := dialRetry(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	out, err := exec.CommandContext(ctx, bin, "serve", "--config", cfg, "--listen", freeAddr(t), "--admin-addr", "").CombinedOutput()
	if exitCode(err) != 1 {
		t.Fatalf("second server on the same flash path: exit %d (want 1)\n%s", exitCode(err), out)
	}
	for _, want := range []string{dir, "in use by another process", "needs paths of its own"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("second server's message lacks %q:\n%s", want, out)
		}
	}
}
