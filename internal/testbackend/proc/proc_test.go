package proc

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// shell returns the path of sh, skipping the test where there is none.
func shell(t *testing.T) string {
	t.Helper()
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skipf("no sh: %v", err)
	}
	return sh
}

// recorder records what Stop logs and reports instead of failing t.
type recorder struct {
	testing.TB
	mu         sync.Mutex
	logs, errs []string
}

func (r *recorder) Helper() {}

func (r *recorder) Logf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.logs = append(r.logs, fmt.Sprintf(format, args...))
}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

// logHas returns a readiness check that passes once file holds want.
func logHas(file, want string) func() error {
	return func() error {
		b, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		if !strings.Contains(string(b), want) {
			return fmt.Errorf("no %q in the log yet", want)
		}
		return nil
	}
}

func TestStartWaitReadyStop(t *testing.T) {
	sh := shell(t)
	dir := t.TempDir()
	logFile := filepath.Join(dir, "out.log")
	p, err := Start(sh, []string{"-c", `echo "dir=$(pwd) x=$X"; echo oops >&2; echo ready; exec sleep 60`}, dir, logFile, []string{"X=42"})
	if err != nil {
		t.Fatal(err)
	}
	if p.Pid() <= 0 {
		t.Fatalf("Pid = %d", p.Pid())
	}
	if err := p.WaitReady(10*time.Second, 5*time.Millisecond, logHas(logFile, "ready")); err != nil {
		t.Fatal(err)
	}
	if p.Exited() {
		t.Fatal("Exited before Stop")
	}
	r := &recorder{TB: t}
	p.Stop(r, "test sh", syscall.SIGTERM, 10*time.Second)
	if len(r.logs)+len(r.errs) != 0 {
		t.Fatalf("Stop logged %q, reported %q", r.logs, r.errs)
	}
	select {
	case <-p.Done():
	default:
		t.Fatal("Done not closed after Stop")
	}
	if !p.Exited() {
		t.Fatal("not Exited after Stop")
	}
	if err := p.Err(); err == nil || !strings.Contains(err.Error(), "terminated") {
		t.Fatalf("Err = %v, want killed by SIGTERM", err)
	}
	b, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	realDir, _ := filepath.EvalSymlinks(dir)
	for _, want := range []string{"x=42", "oops", "ready"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("log %q lacks %q", b, want)
		}
	}
	if !strings.Contains(string(b), "dir="+dir) && !strings.Contains(string(b), "dir="+realDir) {
		t.Errorf("log %q: not run in %s", b, dir)
	}
	// Stopping an exited process returns at once.
	p.Stop(r, "test sh", syscall.SIGTERM, 10*time.Second)
	if len(r.logs)+len(r.errs) != 0 {
		t.Fatalf("second Stop logged %q, reported %q", r.logs, r.errs)
	}
}

func TestStopEscalatesToSIGKILL(t *testing.T) {
	sh := shell(t)
	dir := t.TempDir()
	logFile := filepath.Join(dir, "out.log")
	// A shell that ignores SIGTERM, looping on builtins only.
	p, err := Start(sh, []string{"-c", `trap "" TERM; echo ready; while :; do :; done`}, dir, logFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.WaitReady(10*time.Second, 5*time.Millisecond, logHas(logFile, "ready")); err != nil {
		t.Fatal(err)
	}
	r := &recorder{TB: t}
	p.Stop(r, "test sh", syscall.SIGTERM, 200*time.Millisecond)
	if want := "test sh ignored terminated for 200ms: killing it"; len(r.logs) != 1 || r.logs[0] != want {
		t.Errorf("Stop logged %q, want %q", r.logs, want)
	}
	if len(r.errs) != 0 {
		t.Errorf("Stop reported %q", r.errs)
	}
	if err := p.Err(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("Err = %v, want killed by SIGKILL", err)
	}
}

func TestWaitReadyExited(t *testing.T) {
	sh := shell(t)
	dir := t.TempDir()
	p, err := Start(sh, []string{"-c", "exit 3"}, dir, filepath.Join(dir, "out.log"), nil)
	if err != nil {
		t.Fatal(err)
	}
	err = p.WaitReady(10*time.Second, 5*time.Millisecond, func() error { return errors.New("never") })
	if want := filepath.Base(sh) + " exited while starting (exit status 3)"; err == nil || err.Error() != want {
		t.Fatalf("WaitReady = %v, want %q", err, want)
	}
}

func TestWaitReadyTimeout(t *testing.T) {
	sh := shell(t)
	dir := t.TempDir()
	p, err := Start(sh, []string{"-c", "exec sleep 60"}, dir, filepath.Join(dir, "out.log"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop(t, "test sh", syscall.SIGKILL, 10*time.Second)
	notYet := errors.New("not yet")
	err = p.WaitReady(50*time.Millisecond, 5*time.Millisecond, func() error { return notYet })
	if err == nil || !errors.Is(err, notYet) || err.Error() != "not ready after 50ms: not yet" {
		t.Fatalf("WaitReady = %v, want not ready after 50ms wrapping %v", err, notYet)
	}
}

func TestStartError(t *testing.T) {
	dir := t.TempDir()
	if _, err := Start(filepath.Join(dir, "no-such-program"), nil, dir, filepath.Join(dir, "out.log"), nil); err == nil {
		t.Fatal("Start of a missing program succeeded")
	}
	if _, err := Start(shell(t), nil, dir, filepath.Join(dir, "no-such-dir", "out.log"), nil); err == nil {
		t.Fatal("Start with a log file in a missing folder succeeded")
	}
}

func TestChild(t *testing.T) {
	sh := shell(t)
	dir := t.TempDir()
	c := &Child{LogFile: filepath.Join(dir, "out.log")}
	if c.Running() {
		t.Fatal("zero Child Running")
	}
	if got := c.Log(); !strings.HasPrefix(got, "(no log: ") {
		t.Fatalf("Log before any start = %q", got)
	}
	c.Stop(t, "test sh", syscall.SIGTERM, 10*time.Second) // stopped: nothing to do
	for i := 1; i <= 2; i++ {
		p, err := c.Start(sh, []string{"-c", fmt.Sprintf("echo run %d; echo ready %d; exec sleep 60", i, i)}, dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.WaitReady(10*time.Second, 5*time.Millisecond, logHas(c.LogFile, fmt.Sprintf("ready %d", i))); err != nil {
			t.Fatal(err)
		}
		if !c.Running() {
			t.Fatalf("run %d: not Running", i)
		}
		if _, err := c.Start(sh, []string{"-c", "exit 0"}, dir, nil); !errors.Is(err, ErrRunning) {
			t.Fatalf("run %d: second Start = %v, want ErrRunning", i, err)
		}
		c.Stop(t, "test sh", syscall.SIGTERM, 10*time.Second)
		if c.Running() {
			t.Fatalf("run %d: Running after Stop", i)
		}
	}
	// The log accumulates across starts.
	if got, want := c.Log(), "run 1\nready 1\nrun 2\nready 2\n"; got != want {
		t.Fatalf("Log = %q, want %q", got, want)
	}
	if got, want := c.LogTail(3), "ready 1\nrun 2\nready 2"; got != want {
		t.Fatalf("LogTail(3) = %q, want %q", got, want)
	}
	if got, want := c.LogTail(10), "run 1\nready 1\nrun 2\nready 2"; got != want {
		t.Fatalf("LogTail(10) = %q, want %q", got, want)
	}

	// A process that exited on its own still holds the Child until Stop.
	p, err := c.Start(sh, []string{"-c", "exit 0"}, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	<-p.Done()
	if c.Running() {
		t.Fatal("Running after the process exited")
	}
	if _, err := c.Start(sh, []string{"-c", "exit 0"}, dir, nil); !errors.Is(err, ErrRunning) {
		t.Fatalf("Start before Stop = %v, want ErrRunning", err)
	}
	c.Stop(t, "test sh", syscall.SIGTERM, 10*time.Second)

	if c.LogShown() {
		t.Fatal("LogShown before SetLogShown")
	}
	c.SetLogShown()
	if !c.LogShown() {
		t.Fatal("not LogShown after SetLogShown")
	}
}
