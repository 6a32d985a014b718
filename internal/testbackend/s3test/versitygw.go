package s3test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/orbit-go/orbit/internal/testbackend"
)

const (
	// InstallHint is the install step named when versitygw is missing.
	InstallHint = "./scripts/install-test-backends.sh"

	// toolsBin is where InstallHint puts versitygw, relative to the
	// repository root.
	toolsBin = ".tools/bin/versitygw"

	// readyTimeout bounds how long versitygw may take to answer HTTP.
	readyTimeout = 20 * time.Second
	// stopTimeout is how long Stop waits after SIGTERM before SIGKILL.
	stopTimeout = 5 * time.Second
)

// Bin returns the path of the versitygw program: "versitygw" on PATH if
// there is one, else .tools/bin/versitygw in the repository root (the
// nearest folder above the working directory that holds a go.mod), where
// ./scripts/install-test-backends.sh installs it. When neither exists it
// skips the test, or fails it when ORBIT_REQUIRE_BACKENDS=1 (see
// testbackend.Require), and does not return.
func Bin(t testing.TB) string {
	t.Helper()
	p, where := testbackend.FindTool("versitygw", toolsBin)
	if p != "" {
		return p
	}
	return testbackend.Require(t, "versitygw", InstallHint+" (it installs "+where+", which s3test looks for after PATH)")
}

// Start starts a standalone versitygw for the test and returns once it
// answers HTTP and Server.Bucket exists; it stops the server at cleanup
// (SIGTERM, then SIGKILL after 5 s, waiting for the process to exit; only
// the process it started). It skips the test when versitygw is not
// installed (see Bin), and fails it when the server does not start within
// 20 s, with the server's log.
//
// The server listens on a free port of 127.0.0.1, serves the posix
// backend in Server.Dir/data (one directory per bucket, one file per
// object), and has a random root access key and secret key. Object
// metadata (ETag, content type, user metadata) is kept in user extended
// attributes; when the folder's filesystem lacks them, in a sidecar
// folder (--sidecar Server.Dir/meta). VGW_* and ROOT_* variables of the
// environment are not passed to the server, so they cannot change it.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := Bin(t)
	dir := t.TempDir()
	s := &Server{
		Region:    Region,
		AccessKey: "AK" + strings.ToUpper(testbackend.RandomHex(t, 9)),
		SecretKey: testbackend.RandomHex(t, 20),
		Kind:      KindVersitygw,
		Dir:       dir,
		LogFile:   filepath.Join(dir, "versitygw.log"),
		bin:       bin,
		dataDir:   filepath.Join(dir, "data"),
	}
	s.child.LogFile = s.LogFile
	if err := os.Mkdir(s.dataDir, 0o700); err != nil {
		t.Fatalf("s3test: %v", err)
	}
	if !userXattrs(s.dataDir) {
		meta := filepath.Join(dir, "meta")
		if err := os.Mkdir(meta, 0o700); err != nil {
			t.Fatalf("s3test: %v", err)
		}
		s.metaArg = []string{"--sidecar", meta}
	}
	t.Cleanup(func() {
		s.stopProc(t, syscall.SIGTERM)
		if t.Failed() && !s.child.LogShown() {
			t.Logf("s3test: versitygw %s log (%s):\n%s", s.Endpoint, s.LogFile, s.child.LogTail(40))
		}
	})
	// A port found free may be taken by another process before the server
	// binds it: start again on a new port (at most three times).
	for attempt := 1; ; attempt++ {
		s.addr = "127.0.0.1:" + strconv.Itoa(testbackend.FreePorts(t, 1)[0])
		s.Endpoint = "http://" + s.addr
		err := s.launch()
		if err == nil {
			break
		}
		s.stopProc(t, syscall.SIGKILL)
		if attempt == 3 || !strings.Contains(s.child.Log(), "address already in use") {
			s.fatal(t, "start", err)
		}
	}
	s.Bucket = s.NewBucket(t)
	return s
}

// args returns versitygw's command line.
func (s *Server) args() []string {
	args := []string{
		"--port", s.addr,
		"--access", s.AccessKey,
		"--secret", s.SecretKey,
		"--region", s.Region,
		"--keep-alive", // without it every response closes the connection
		"--quiet",
		"posix",
	}
	args = append(args, s.metaArg...)
	return append(args, s.dataDir)
}

// env returns the environment without the variables versitygw reads
// (VGW_*, ROOT_*, and LOGFILE and WEBHOOK for its logs).
func env() []string {
	var out []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "VGW_") || strings.HasPrefix(name, "ROOT_") || name == "LOGFILE" || name == "WEBHOOK" {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// launch starts the process and waits until it answers HTTP.
func (s *Server) launch() error {
	p, err := s.child.Start(s.bin, s.args(), s.Dir, env())
	if err != nil {
		return err
	}
	hc := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	return p.WaitReady(readyTimeout, 10*time.Millisecond, func() error { return s.answers(hc) })
}

// answers reports whether the server answers an HTTP request (any status:
// an unsigned request gets 403).
func (s *Server) answers(hc *http.Client) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.Endpoint+"/", nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	_ = resp.Body.Close()
	return nil
}

// stopProc signals the running process with sig and waits for it to
// exit; after SIGTERM it sends SIGKILL when the process outlives
// stopTimeout.
func (s *Server) stopProc(t testing.TB, sig syscall.Signal) {
	s.child.Stop(t, "s3test: versitygw "+s.Endpoint, sig, stopTimeout)
}
