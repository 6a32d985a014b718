// Package s3test starts real S3-compatible servers for tests: no mock
// ever stands in for S3.
//
// Two servers are available, both reached over plain HTTP on a loopback
// port with AWS Signature Version 4 and path-style addressing:
//
//   - StartFake runs gofakes3 (github.com/johannesboyne/gofakes3, memory
//     backend) in process. It is compiled into the test binary, starts in
//     microseconds and is never missing, so it never skips.
//   - Start runs versitygw (github.com/versity/versitygw, posix backend in
//     a t.TempDir()) as a child process: a standalone S3 gateway that
//     stores each object as a file. Start first looks for the program
//     (see Bin), so that a machine without it skips the test, or fails it
//     when ORBIT_REQUIRE_BACKENDS=1 (see testbackend.Require).
//
// Each returns a Server with a new, empty bucket (Server.Bucket) and stops
// the server at t.Cleanup; Each runs a test against both servers.
// Server.Client returns a raw aws-sdk-go-v2 client for either.
//
// What both do alike (aws-sdk-go-v2 service/s3 v1.114, gofakes3 v1.2.0,
// versitygw v1.8.0):
//
//   - PutObject with If-None-Match "*" on an existing key, and with a stale
//     If-Match, fail with HTTP 412 and error code "PreconditionFailed"
//     (a *smithy.GenericAPIError: the SDK has no modeled type for it; test
//     with errors.As on smithy.APIError and ErrorCode());
//   - ETags are quoted ("\"<md5 hex>\"") in PutObject, HeadObject,
//     GetObject and ListObjectsV2 results; an unquoted If-Match also
//     matches;
//   - a missing key is *types.NoSuchKey from GetObject and *types.NotFound
//     from HeadObject (404); DeleteObject of a missing key succeeds;
//   - ListObjectsV2 lists in byte order ("x!1" < "x/1" < "x0") and honors
//     StartAfter (also when no such key exists), MaxKeys and continuation
//     tokens; keys may hold '!' and other punctuation, spaces and UTF-8.
//
// Where they differ:
//
//   - DeleteObject with a stale If-Match: versitygw answers 412,
//     gofakes3 ignores the condition and deletes;
//   - PutObject with If-Match on a missing key: versitygw answers 404
//     NoSuchKey, gofakes3 412 PreconditionFailed;
//   - versitygw maps keys to paths: "a/b" and "a/b/c" cannot both exist
//     (409 ObjectParentIsFile or ExistingObjectIsDirectory), a key ending
//     in "/" must be empty, and keys are cleaned ("a//b" is stored as
//     "a/b", "./x" as "x"); gofakes3 stores any key as is;
//   - under 16 concurrent writers versitygw's If-Match once let two
//     writers win in 20 rounds (If-None-Match "*" was always exclusive),
//     measured when the test servers were chosen; gofakes3 was atomic.
//
// This package links the AWS SDK and gofakes3: import it from _test.go
// files only.
package s3test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/orbit-go/orbit/internal/testbackend"
	"github.com/orbit-go/orbit/internal/testbackend/proc"
)

// Kinds of Server.
const (
	KindFake      = "gofakes3"
	KindVersitygw = "versitygw"
)

// Region is the region of every Server. Neither server checks it beyond
// the SigV4 signature, which must be computed with it.
const Region = "us-east-1"

// opTimeout bounds the requests the package itself makes through the SDK
// (creating buckets).
const opTimeout = 10 * time.Second

// Server is one S3-compatible endpoint with a bucket ready for a test. Its
// methods are safe for concurrent use.
type Server struct {
	// Endpoint is "http://127.0.0.1:port"; clients must use path-style
	// addressing (http://127.0.0.1:port/bucket/key).
	Endpoint string
	// Region is Region ("us-east-1"), for SigV4 signing.
	Region string
	// AccessKey and SecretKey are the credentials of the server's root
	// user: random for versitygw, which checks every signature;
	// gofakes3 accepts any non-empty pair.
	AccessKey, SecretKey string
	// Bucket is an existing, empty bucket created for this test: a unique
	// valid bucket name (lowercase, 3 to 63 characters).
	Bucket string
	// Kind is KindFake ("gofakes3") or KindVersitygw ("versitygw").
	Kind string

	// Dir (versitygw only) is the server's folder: data/ holds one
	// directory per bucket, versitygw.log the server's output.
	Dir string
	// LogFile (versitygw only) receives the server's stdout and stderr,
	// across restarts.
	LogFile string

	// gofakes3
	handler http.Handler
	addr    string // "127.0.0.1:port", kept across Stop and Restart

	// versitygw
	bin     string
	dataDir string
	metaArg []string // --sidecar DIR when the folder lacks user xattrs

	child proc.Child // the versitygw process, LogFile

	mu   sync.Mutex
	fake *httptest.Server // nil while stopped
}

// StartFake starts gofakes3 in process with a memory backend
// (httptest.NewServer(gofakes3.New(s3mem.New()).Server())), creates
// Server.Bucket, and closes the server at cleanup. It never skips.
// AccessKey and SecretKey are fixed non-empty values; gofakes3 does not
// check signatures.
//
// Stop, Kill and Restart work on it too: the objects stay in memory and
// Restart listens on the same address again.
func StartFake(t testing.TB) *Server {
	t.Helper()
	s := &Server{
		Region:    Region,
		AccessKey: "gofakes3-access",
		SecretKey: "gofakes3-secret",
		Kind:      KindFake,
		handler:   gofakes3.New(s3mem.New()).Server(),
	}
	s.fake = httptest.NewServer(s.handler)
	s.addr = s.fake.Listener.Addr().String()
	s.Endpoint = "http://" + s.addr
	t.Cleanup(func() { s.stopFake(false) })
	s.Bucket = s.NewBucket(t)
	return s
}

// Each runs fn as the subtests "gofakes3" (StartFake) and "versitygw"
// (Start, which skips the subtest when versitygw is not installed, or
// fails it when ORBIT_REQUIRE_BACKENDS=1). Each subtest gets its own
// server; the two run in parallel (gofakes3 works in the test process,
// versitygw in its own), so fn must not share state between them.
func Each(t *testing.T, fn func(t *testing.T, s *Server)) {
	t.Helper()
	t.Run(KindFake, func(t *testing.T) { t.Parallel(); fn(t, StartFake(t)) })
	t.Run(KindVersitygw, func(t *testing.T) { t.Parallel(); fn(t, Start(t)) })
}

// Client returns a raw aws-sdk-go-v2 client for the server: path-style
// addressing, Endpoint as base endpoint, static credentials, Region, and
// otherwise the SDK's defaults (retries, request checksums). It reads no
// shared configuration (no ~/.aws, no AWS_* variables). Its idle
// connections are closed at cleanup.
func (s *Server) Client(t testing.TB) *s3.Client {
	t.Helper()
	tr := awshttp.NewBuildableClient().GetTransport() // the SDK's default transport
	t.Cleanup(tr.CloseIdleConnections)
	hc := &http.Client{
		Transport: tr,
		// Like the SDK's own client: a redirect is returned, not followed.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return s3.New(s3.Options{
		BaseEndpoint: aws.String(s.Endpoint),
		Region:       s.Region,
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""),
		HTTPClient:   hc,
	})
}

// bucketSeq makes bucket names unique within the process; the random part
// makes them unique across processes sharing a server.
var bucketSeq atomic.Uint64

// NewBucket creates another empty bucket on the same server and returns
// its name. It fails the test when the bucket cannot be created.
func (s *Server) NewBucket(t testing.TB) string {
	t.Helper()
	name := "orbit-" + testbackend.RandomHex(t, 6) + "-" + strconv.FormatUint(bucketSeq.Add(1), 10)
	c := s.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		s.fatal(t, "create bucket "+name, err)
	}
	return name
}

// Stop stops the server and waits for it to be gone: versitygw gets
// SIGTERM (then SIGKILL after 5 s); gofakes3 closes its listener and
// waits for the requests in flight. It does nothing when the server is
// stopped. The objects survive: versitygw keeps them on disk, gofakes3 in
// memory.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	s.halt(t, false)
}

// Kill stops the server like a crash: versitygw gets SIGKILL; gofakes3
// drops every open connection, so requests in flight fail. It waits for
// the server to be gone and does nothing when it is stopped.
func (s *Server) Kill(t testing.TB) {
	t.Helper()
	s.halt(t, true)
}

// halt is Stop, or Kill when kill is true.
func (s *Server) halt(t testing.TB, kill bool) {
	switch {
	case s.Kind == KindFake:
		s.stopFake(kill)
	case kill:
		s.stopProc(t, syscall.SIGKILL)
	default:
		s.stopProc(t, syscall.SIGTERM)
	}
}

// Restart starts the stopped server again on the same address with the
// same credentials and data, and waits until it answers. It fails the
// test when the server is running or does not start (for instance because
// another process took its port meanwhile).
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	var err error
	if s.Kind == KindFake {
		err = s.restartFake()
	} else {
		err = s.launch()
	}
	if err != nil {
		s.fatal(t, "restart", err)
	}
}

// Running reports whether the server is running.
func (s *Server) Running() bool {
	if s.Kind != KindFake {
		return s.child.Running()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fake != nil
}

func (s *Server) stopFake(kill bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fake == nil {
		return
	}
	if kill {
		s.fake.CloseClientConnections()
	}
	s.fake.Close()
	s.fake = nil
}

func (s *Server) restartFake() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fake != nil {
		return proc.ErrRunning
	}
	l, err := listen(s.addr)
	if err != nil {
		return err
	}
	srv := httptest.NewUnstartedServer(s.handler)
	_ = srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	s.fake = srv
	return nil
}

// listen listens on addr, retrying briefly while the previous listener's
// port is being released.
func listen(addr string) (net.Listener, error) {
	var err error
	for i := 0; i < 50; i++ {
		var l net.Listener
		if l, err = net.Listen("tcp", addr); err == nil {
			return l, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil, err
}

func (s *Server) fatal(t testing.TB, what string, err error) {
	t.Helper()
	if s.Kind == KindFake {
		t.Fatalf("s3test: %s on gofakes3 %s: %v", what, s.Endpoint, err)
	}
	s.child.SetLogShown()
	t.Fatalf("s3test: %s on versitygw %s: %v\n--- %s ---\n%s", what, s.Endpoint, err, s.LogFile, s.child.LogTail(60))
}
