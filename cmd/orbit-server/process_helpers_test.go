package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/orbit-go/orbit/client"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func dialRetry(ctx context.Context, addr string) (*client.Client, error) {
	var last error
	for ctx.Err() == nil {
		c, err := client.Dial(ctx, addr, client.WithConnectTimeout(2*time.Second))
		if err == nil {
			return c, nil
		}
		last = err
		time.Sleep(200 * time.Millisecond)
	}
	return nil, last
}

// prefixWriter sends a child's stderr to the test log.
type prefixWriter struct {
	t      *testing.T
	prefix string
}

func (w *prefixWriter) Write(p []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		w.t.Log(w.prefix + line)
	}
	return len(p), nil
}

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
	buildDir  string
)

// buildServer builds orbit-server once per test binary and returns its
// path; TestMain removes it.
func buildServer(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "orbit-server-bin")
		if buildErr != nil {
			return
		}
		builtBin = filepath.Join(buildDir, "orbit-server")
		if out, err := exec.Command("go", "build", "-o", builtBin, ".").CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build orbit-server: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// serverProcess is one orbit-server child process that a test can kill
// and start again with the same arguments (and so the same address).
type serverProcess struct {
	t    *testing.T
	name string
	bin  string
	args []string
	dir  string // working directory ("": the test's)
	addr string
	cmd  *exec.Cmd
	done chan struct{}
}

// startServerProcess starts bin with args; the address is the value of
// --listen. The process is stopped (SIGTERM, then SIGKILL) when the test ends.
func startServerProcess(t *testing.T, bin, name string, args ...string) *serverProcess {
	t.Helper()
	return startServerProcessIn(t, "", bin, name, args...)
}

// startServerProcessIn is startServerProcess in the working directory dir.
func startServerProcessIn(t *testing.T, dir, bin, name string, args ...string) *serverProcess {
	t.Helper()
	p := &serverProcess{t: t, name: name, bin: bin, args: args, dir: dir}
	for i, a := range args {
		if a == "--listen" && i+1 < len(args) {
			p.addr = args[i+1]
		}
	}
	p.start()
	t.Cleanup(func() {
		if p.cmd == nil {
			return
		}
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

func (p *serverProcess) start() {
	p.t.Helper()
	cmd := exec.Command(p.bin, p.args...)
	cmd.Dir = p.dir
	cmd.Stderr = &prefixWriter{t: p.t, prefix: p.name + ": "}
	if err := cmd.Start(); err != nil {
		p.t.Fatalf("%s: %v", p.name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	p.cmd, p.done = cmd, done
}

// kill sends SIGKILL and waits for the process to exit.
func (p *serverProcess) kill() {
	p.t.Helper()
	if p.cmd == nil {
		return
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		p.t.Fatalf("%s: kill: %v", p.name, err)
	}
	<-p.done
	p.cmd = nil
}
