package proc

import (
	"errors"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ErrRunning is the error of Child.Start when the child is running.
var ErrRunning = errors.New("already running")

// Child is the process of one server that a test starts, stops and
// restarts: at most one Process at a time, all of them appending their
// output to LogFile. The zero Child, with LogFile set, is stopped and ready
// to use. Its methods are safe for concurrent use; Stop holds the Child
// until the process has exited, so Start, Running and the log flag wait
// for a Stop in progress.
type Child struct {
	// LogFile receives the stdout and stderr of every process the Child
	// starts. Set it before the first Start and do not change it.
	LogFile string

	mu       sync.Mutex
	proc     *Process // nil while stopped
	logShown bool
}

// Start starts bin with args in dir with the environment env (see the
// function Start; the output goes to LogFile) and returns the process,
// which the caller waits for with WaitReady. It returns ErrRunning when a
// process of the Child is running, or has exited but was not stopped.
func (c *Child) Start(bin string, args []string, dir string, env []string) (*Process, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.proc != nil {
		return nil, ErrRunning
	}
	p, err := Start(bin, args, dir, c.LogFile, env)
	if err != nil {
		return nil, err
	}
	c.proc = p
	return p, nil
}

// Stop stops the process of the Child with sig and timeout as
// Process.Stop does (name names the server in its messages), and leaves
// the Child stopped. It does nothing when the Child is stopped.
func (c *Child) Stop(t testing.TB, name string, sig syscall.Signal, timeout time.Duration) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.proc
	if p == nil {
		return
	}
	c.proc = nil
	p.Stop(t, name, sig, timeout)
}

// Running reports whether the Child has a process and it has not exited.
func (c *Child) Running() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.proc != nil && !c.proc.Exited()
}

// SetLogShown records that the test has printed the log (typically in a
// failure message), so that the cleanup need not print it again.
func (c *Child) SetLogShown() {
	c.mu.Lock()
	c.logShown = true
	c.mu.Unlock()
}

// LogShown reports whether SetLogShown was called.
func (c *Child) LogShown() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.logShown
}

// Log returns the content of LogFile, or "(no log: <error>)" when it
// cannot be read.
func (c *Child) Log() string {
	b, err := os.ReadFile(c.LogFile)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	return string(b)
}

// LogTail returns the last n lines of Log, without the final newline.
func (c *Child) LogTail(n int) string {
	lines := strings.Split(strings.TrimRight(c.Log(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
