// Package azuritetest starts Azurite, Microsoft's Azure Storage emulator,
// for tests: no mock ever stands in for Azure Blob Storage.
//
// Start runs azurite-blob (the blob service alone) as a child process on a
// port of 127.0.0.1 that the server picks itself (--blobPort 0; the port is
// read from its output), with its data in memory; StartPersistent keeps
// the data in a t.TempDir() instead, so that a restart finds it again.
// Both first look for the program (see Bin), so that a machine without it
// skips the test, or fails it when ORBIT_REQUIRE_BACKENDS=1 (see
// testbackend.Require), and stop the server at t.Cleanup.
//
// The server has the emulator's one account, devstoreaccount1, with its
// well-known key, reached path-style at
// http://127.0.0.1:PORT/devstoreaccount1 over plain HTTP; Server.Container
// is an empty container created for the test, and NewContainer makes
// more. Client returns a raw azblob client.
//
// What Azurite 3.35.0 does (azblob v1.8.3, service version 2026-12-06,
// accepted with --skipApiVersionCheck):
//
//   - an upload with If-None-Match "*" on an existing blob fails with 409
//     and code BlobAlreadyExists; a stale If-Match with 412
//     ConditionNotMet; create-only uploads are atomic under concurrent
//     writers;
//   - a missing blob is 404 BlobNotFound (on HEAD too, through the
//     x-ms-error-code header); a missing container 404 ContainerNotFound;
//     a wrong key 403 AuthorizationFailure (Azure: AuthenticationFailed);
//   - ETags are "0x..." values, quoted in headers and unquoted in
//     listings; they are not content hashes: every write gets a new one;
//   - List Blobs lists in byte order and honors prefix, maxresults and
//     markers (its markers are the last name returned; Azure's are
//     opaque), but ignores startFrom;
//   - the responses carry a Date header.
//
// With StartPersistent, Azurite saves its metadata every 5 s and when it
// stops cleanly (SIGTERM): Kill (SIGKILL) loses the changes of the last
// seconds, Stop does not.
//
// This package links azblob: import it from _test.go files only.
package azuritetest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"

	"github.com/orbit-go/orbit/internal/testbackend"
	"github.com/orbit-go/orbit/internal/testbackend/proc"
)

const (
	// AccountName and AccountKey are the emulator's well-known account
	// (public, the same in every Azurite).
	AccountName = "devstoreaccount1"
	AccountKey  = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

	// InstallHint is the install step named when Azurite is missing.
	InstallHint = "./scripts/install-test-backends.sh"

	// program is the blob service's command.
	program = "azurite-blob"
	// toolsBin is where InstallHint puts it, relative to the repository
	// root.
	toolsBin = ".tools/azurite/node_modules/.bin/azurite-blob"

	// readyTimeout bounds how long Azurite may take to listen (about 1.5 s
	// on an idle machine; Node.js loads a few hundred modules first).
	readyTimeout = 30 * time.Second
	// stopTimeout is how long Stop waits after SIGTERM before SIGKILL.
	stopTimeout = 10 * time.Second
	// opTimeout bounds the requests the package itself makes.
	opTimeout = 10 * time.Second
)

// Server is one Azurite blob service with a container ready for a test.
// Its methods are safe for concurrent use.
type Server struct {
	// Endpoint is the blob service URL, account included:
	// "http://127.0.0.1:PORT/devstoreaccount1".
	Endpoint string
	// AccountName and AccountKey are the package constants.
	AccountName, AccountKey string
	// Container is an existing, empty container created for this test.
	Container string
	// Persistent reports whether the data is on disk (StartPersistent)
	// and survives Restart; in memory (Start) a restart comes back empty.
	Persistent bool
	// Dir is the server's folder (its working directory, and with
	// StartPersistent its data); LogFile receives its stdout and stderr
	// across restarts.
	Dir, LogFile string

	bin   string
	port  atomic.Int64 // 0 until the first start has listened
	child proc.Child
}

// Bin returns the path of azurite-blob: on PATH if there is one, else
// .tools/azurite/node_modules/.bin/azurite-blob in the repository root
// (the nearest folder above the working directory that holds a go.mod),
// where ./scripts/install-test-backends.sh installs it. When neither exists
// it skips the test, or fails it when ORBIT_REQUIRE_BACKENDS=1 (see
// testbackend.Require), and does not return. Azurite needs Node.js: a
// "node" missing from PATH is reported the same way.
func Bin(t testing.TB) string {
	t.Helper()
	bin, where := testbackend.FindTool(program, toolsBin)
	if bin == "" {
		return testbackend.Require(t, program, InstallHint+" (it installs Azurite with npm into "+where+", which azuritetest looks for after PATH)")
	}
	testbackend.Require(t, "node", InstallHint+" (Azurite is a Node.js program; the script installs Debian's nodejs and npm)")
	return bin
}

// Start starts Azurite's blob service with its data in memory and returns
// once it listens and Server.Container exists; it stops the server at
// cleanup (SIGTERM, then SIGKILL after 10 s, waiting for the process to
// exit; only the process it started). It skips the test when Azurite is
// not installed (see Bin), and fails it when the server does not start
// within 30 s, with the server's log. A Restart comes back empty.
func Start(t testing.TB) *Server {
	t.Helper()
	return start(t, false)
}

// StartPersistent is Start with the data on disk in Server.Dir
// (--location), so that Stop and Restart keep it (Kill may lose the last
// seconds of changes: see the package documentation).
func StartPersistent(t testing.TB) *Server {
	t.Helper()
	return start(t, true)
}

func start(t testing.TB, persistent bool) *Server {
	t.Helper()
	bin := Bin(t)
	dir := t.TempDir()
	s := &Server{
		AccountName: AccountName,
		AccountKey:  AccountKey,
		Persistent:  persistent,
		Dir:         dir,
		LogFile:     filepath.Join(dir, "azurite.log"),
		bin:         bin,
	}
	s.child.LogFile = s.LogFile
	t.Cleanup(func() {
		s.child.Stop(t, "azuritetest: azurite "+s.Endpoint, syscall.SIGTERM, stopTimeout)
		if t.Failed() && !s.child.LogShown() {
			t.Logf("azuritetest: azurite %s log (%s):\n%s", s.Endpoint, s.LogFile, s.child.LogTail(40))
		}
	})
	if err := s.launch(); err != nil {
		s.fatal(t, "start", err)
	}
	s.Container = s.NewContainer(t)
	return s
}

// args returns the command line; port 0 lets the server pick.
func (s *Server) args(port int) []string {
	args := []string{
		"--blobHost", "127.0.0.1",
		"--blobPort", strconv.Itoa(port),
		"--skipApiVersionCheck", // azblob sends a newer x-ms-version than 3.35 knows
		"--loose",               // ignore headers it does not support instead of failing
		"--disableTelemetry",
		"--silent", // no access log
	}
	if s.Persistent {
		return append(args, "--location", filepath.Join(s.Dir, "data"))
	}
	return append(args, "--inMemoryPersistence")
}

// env returns the environment without the variables Azurite reads
// (AZURITE_*, such as AZURITE_ACCOUNTS, which replaces the accounts).
func env() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AZURITE_") {
			out = append(out, kv)
		}
	}
	return out
}

var listening = regexp.MustCompile(`successfully listens on http://127\.0\.0\.1:(\d+)`)

// launch starts the process (on the port of the first start, if any) and
// waits until it listens and answers HTTP.
func (s *Server) launch() error {
	before := 0 // where this start's output begins in the log
	if fi, err := os.Stat(s.LogFile); err == nil {
		before = int(fi.Size())
	}
	port := int(s.port.Load())
	p, err := s.child.Start(s.bin, s.args(port), s.Dir, env())
	if err != nil {
		return err
	}
	hc := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	return p.WaitReady(readyTimeout, 20*time.Millisecond, func() error {
		if s.port.Load() == 0 {
			log := s.child.Log()
			if len(log) < before {
				return errors.New("the log is shorter than before the start")
			}
			m := listening.FindStringSubmatch(log[before:])
			if m == nil {
				return errors.New(`no "successfully listens on" line in the log yet`)
			}
			n, _ := strconv.Atoi(m[1])
			s.port.Store(int64(n))
			s.Endpoint = fmt.Sprintf("http://127.0.0.1:%d/%s", n, AccountName)
		}
		return s.answers(hc)
	})
}

// answers reports whether the server answers an HTTP request (any status:
// an unsigned request gets 403).
func (s *Server) answers(hc *http.Client) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.Endpoint+"?comp=list", nil)
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

// ConnectionString returns the connection string of the server:
// DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=...;BlobEndpoint=<Endpoint>.
func (s *Server) ConnectionString() string {
	return "DefaultEndpointsProtocol=http;AccountName=" + s.AccountName + ";AccountKey=" + s.AccountKey + ";BlobEndpoint=" + s.Endpoint + ";"
}

// ClientOptions are the options of Client: a transport keeping up to 64
// idle connections to the server (azcore's default keeps 10, too few for
// 16 goroutines), and otherwise the SDK's defaults (3 retries).
func ClientOptions(t testing.TB) *azblob.ClientOptions {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = 256, 64
	t.Cleanup(tr.CloseIdleConnections)
	return &azblob.ClientOptions{ClientOptions: azcore.ClientOptions{
		Transport: &http.Client{Transport: tr},
		Retry:     policy.RetryOptions{MaxRetryDelay: 5 * time.Second},
	}}
}

// Client returns a raw azblob client for the server, authenticated with
// the account's shared key, with ClientOptions. Its idle connections are
// closed at cleanup.
func (s *Server) Client(t testing.TB) *azblob.Client {
	t.Helper()
	cred, err := azblob.NewSharedKeyCredential(s.AccountName, s.AccountKey)
	if err != nil {
		t.Fatalf("azuritetest: %v", err)
	}
	c, err := azblob.NewClientWithSharedKeyCredential(s.Endpoint, cred, ClientOptions(t))
	if err != nil {
		t.Fatalf("azuritetest: %v", err)
	}
	return c
}

// containerSeq makes container names unique within the process; the random
// part makes them unique across processes sharing a server.
var containerSeq atomic.Uint64

// NewContainer creates another empty container on the same server and
// returns its name (lowercase letters, digits and hyphens, as Azure
// requires). It fails the test when the container cannot be created.
func (s *Server) NewContainer(t testing.TB) string {
	t.Helper()
	name := "orbit-" + testbackend.RandomHex(t, 6) + "-" + strconv.FormatUint(containerSeq.Add(1), 10)
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	if _, err := s.Client(t).CreateContainer(ctx, name, nil); err != nil {
		s.fatal(t, "create container "+name, err)
	}
	return name
}

// Stop stops the server cleanly (SIGTERM, then SIGKILL after 10 s) and
// waits for it to be gone; with StartPersistent it saves its data first.
// It does nothing when the server is stopped.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	s.child.Stop(t, "azuritetest: azurite "+s.Endpoint, syscall.SIGTERM, stopTimeout)
}

// Kill stops the server like a crash (SIGKILL) and waits for it to be
// gone: requests in flight fail; with StartPersistent the changes of the
// last seconds may be lost. It does nothing when the server is stopped.
func (s *Server) Kill(t testing.TB) {
	t.Helper()
	s.child.Stop(t, "azuritetest: azurite "+s.Endpoint, syscall.SIGKILL, stopTimeout)
}

// Restart starts the stopped server again on the same port (so Endpoint
// does not change), with its data when Persistent, and waits until it
// answers. It fails the test when the server is running or does not start
// (for instance because another process took its port meanwhile).
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	if err := s.launch(); err != nil {
		s.fatal(t, "restart", err)
	}
}

// Running reports whether the server is running.
func (s *Server) Running() bool { return s.child.Running() }

func (s *Server) fatal(t testing.TB, what string, err error) {
	t.Helper()
	s.child.SetLogShown()
	t.Fatalf("azuritetest: %s on azurite %s: %v\n--- %s ---\n%s", what, s.Endpoint, err, s.LogFile, s.child.LogTail(60))
}
