// Package proc runs the server programs of the real-backend tests
// (redis-server, versitygw, ...) as child processes of the test binary.
//
// Start runs one program with its stdout and stderr appended to a log
// file; Process.WaitReady polls a caller's readiness check until it passes
// or the process exits; Process.Stop signals the process and waits for it
// to exit. Child holds the process of one server across Stop and Restart:
// at most one at a time, with one log file for all of them.
//
// Every signal goes to the PID of a process this package started, never
// to a process group or a program name. On Linux each child also gets
// SIGKILL when the thread that started it dies (PR_SET_PDEATHSIG), so that
// no server outlives a test binary that dies without its cleanup.
//
// Import this package from the test-backend packages only.
package proc

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// Process is a server program started by Start, with its output appended
// to a log file. Its methods are safe for concurrent use.
type Process struct {
	cmd  *exec.Cmd
	name string        // the program's file name, for messages
	done chan struct{} // closed when the process has exited
	err  error         // Wait's result, set before done is closed
}

// Start starts bin with args in the folder dir, its stdout and stderr
// appended to logFile (created with mode 0600 when missing), and with the
// environment env (nil: the test binary's own). On Linux the process is
// killed (SIGKILL) when the thread that started it dies. Start does not
// wait for the program to be ready (see WaitReady); a goroutine waits for
// it to exit (see Done).
func Start(bin string, args []string, dir, logFile string, env []string) (*Process, error) {
	logf, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = sysProcAttr()
	err = cmd.Start()
	_ = logf.Close() // the child has its own descriptor
	if err != nil {
		return nil, err
	}
	p := &Process{cmd: cmd, name: filepath.Base(bin), done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Done returns a channel closed once the process has exited and been
// waited for.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err waits until the process has exited and returns the error of
// exec.Cmd.Wait (nil for exit status 0).
func (p *Process) Err() error {
	<-p.done
	return p.err
}

// Pid returns the process ID.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Exited reports whether the process has exited, without blocking.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// WaitReady calls ready, poll apart, until it returns nil, and then
// returns nil. It returns an error instead when the process exits first
// ("<program> exited while starting (<Wait's error>)"), or when ready
// still fails once timeout has passed since the call ("not ready after
// <timeout>: <ready's last error>"). ready should bound its own duration.
func (p *Process) WaitReady(timeout, poll time.Duration, ready func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		if p.Exited() {
			return p.exitedError()
		}
		err := ready()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %s: %w", timeout, err)
		}
		select {
		case <-p.done:
			return p.exitedError()
		case <-time.After(poll):
		}
	}
}

func (p *Process) exitedError() error {
	return fmt.Errorf("%s exited while starting (%v)", p.name, p.err)
}

// killWait is the least time Stop waits for a process to exit after SIGKILL.
const killWait = 10 * time.Second

// Stop sends sig to the process and waits for it to exit. When the
// process outlives timeout it logs "<name> ignored <sig> for <timeout>:
// killing it" on t, sends SIGKILL and waits up to timeout again (at least
// killWait); a process still running then fails the test (t.Errorf,
// "<name> (pid N) does not exit after SIGKILL"). name says which server it
// is, for these messages.
// Stop returns at once when the process has exited already; it signals
// only the process's own PID.
func (p *Process) Stop(t testing.TB, name string, sig syscall.Signal, timeout time.Duration) {
	t.Helper()
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
		return
	case <-time.After(timeout):
	}
	t.Logf("%s ignored %v for %s: killing it", name, sig, timeout)
	_ = p.cmd.Process.Kill()
	// SIGKILL cannot be ignored: only a loaded machine delays the exit, so
	// the wait after it is not shortened with a short timeout.
	select {
	case <-p.done:
	case <-time.After(max(timeout, killWait)):
		t.Errorf("%s (pid %d) does not exit after SIGKILL", name, p.Pid())
	}
}
