// Package gcstest starts a Google Cloud Storage emulator for tests:
// fake-gcs-server (github.com/fsouza/fake-gcs-server, memory backend) in
// process, reached over plain HTTP on a loopback port through the JSON API
// (and the XML API for object reads), without authentication. It is
// compiled into the test binary, starts in milliseconds and is never
// missing, so it never skips.
//
// Start returns a Server with a new, empty bucket (Server.Bucket) and stops
// it at t.Cleanup. NewBucket makes more buckets; Client returns a raw
// cloud.google.com/go/storage client; Stop, Kill and Restart take the
// server down and bring it back on the same address with the same objects.
//
// What fake-gcs-server v1.56.1 does, as the tests rely on it:
//
//   - an insert with ifGenerationMatch=0 (storage.Conditions{DoesNotExist:
//     true}) on an existing name fails with HTTP 412, atomically (the
//     memory backend checks and inserts under one lock); so does
//     ifGenerationMatch=N on another generation;
//   - generations are the server's clock in microseconds at the write: a
//     new one for every write of a name, also after a delete, and the same
//     in insert results, object metadata, listings and the XML read's
//     X-Goog-Generation header;
//   - delete preconditions (ifGenerationMatch) are ignored: the object is
//     deleted; deleting a missing object is a 404;
//   - listings are in byte order and honor prefix, startOffset (inclusive),
//     maxResults and pageToken;
//   - every request costs time linear in the size of the bucket: inserts,
//     reads and deletes scan every object of the bucket, formatting two
//     strings per object, listings scan and sort; and the whole server
//     serializes writes under one lock. A test that stores n objects in
//     one bucket takes time in n² (1,200 leases of the conformance suite's
//     pagination test: about a minute with -race; 10,000: hours), so tests use a
//     bucket each and keep their buckets small;
//   - buckets.get of a missing bucket, and an insert into one, are 404s;
//   - the server's PublicHost must be the host the client reads from
//     (here 127.0.0.1): the XML API routes match on it, and a read from
//     another host answers "object doesn't exist".
//
// This package links the storage client and fake-gcs-server: import it
// from _test.go files only.
package gcstest

import (
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/storage"
	"github.com/fsouza/fake-gcs-server/fakestorage"
	"google.golang.org/api/option"

	"github.com/orbit-go/orbit/internal/testbackend"
)

// Server is one fake-gcs-server with a bucket ready for a test. Its methods
// are safe for concurrent use.
type Server struct {
	// Endpoint is "http://127.0.0.1:port"; the JSON API is under
	// Endpoint+"/storage/v1/". Clients send no credentials.
	Endpoint string
	// Bucket is an existing, empty bucket created for this test: a unique
	// valid bucket name (lowercase, 3 to 63 characters).
	Bucket string

	fake *fakestorage.Server // the emulator, without a listener of its own
	addr string              // "127.0.0.1:port", kept across Stop and Restart

	mu  sync.Mutex
	srv *httptest.Server // nil while stopped
}

// Start starts fake-gcs-server in process with a memory backend, creates
// Server.Bucket, and stops the server at cleanup. It never skips.
//
// The emulator is built with fakestorage.NewServerWithOptions (Scheme
// "http", Host and PublicHost "127.0.0.1", NoListener) and served by an
// httptest.Server of the package, so that Stop, Kill and Restart can take
// the address down and bring it back while the objects stay in memory.
func Start(t testing.TB) *Server {
	t.Helper()
	fake, err := fakestorage.NewServerWithOptions(fakestorage.Options{
		Scheme:     "http",
		Host:       "127.0.0.1",
		PublicHost: "127.0.0.1",
		NoListener: true,
	})
	if err != nil {
		t.Fatalf("gcstest: start fake-gcs-server: %v", err)
	}
	s := &Server{fake: fake}
	s.srv = newHTTPServer(fake.HTTPHandler())
	s.srv.Start()
	s.addr = s.srv.Listener.Addr().String()
	s.Endpoint = "http://" + s.addr
	t.Cleanup(func() {
		s.stop(false)
		fake.Stop()
	})
	s.Bucket = s.NewBucket(t)
	return s
}

// newHTTPServer serves h without logging the connection errors that Kill
// provokes.
func newHTTPServer(h http.Handler) *httptest.Server {
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	return srv
}

// bucketSeq makes bucket names unique within the process.
var bucketSeq atomic.Uint64

// NewBucket creates another empty bucket on the same server and returns
// its name.
func (s *Server) NewBucket(t testing.TB) string {
	t.Helper()
	name := "orbit-" + testbackend.RandomHex(t, 6) + "-" + strconv.FormatUint(bucketSeq.Add(1), 10)
	s.fake.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: name})
	return name
}

// Client returns a raw cloud.google.com/go/storage client for the server:
// Endpoint+"/storage/v1/" as endpoint, no authentication, and otherwise
// the client's defaults (retries, XML reads). It is closed at cleanup.
func (s *Server) Client(t testing.TB) *storage.Client {
	t.Helper()
	c, err := storage.NewClient(context.Background(),
		option.WithEndpoint(s.Endpoint+"/storage/v1/"),
		option.WithoutAuthentication(),
		storage.WithDisabledClientMetrics(),
	)
	if err != nil {
		t.Fatalf("gcstest: storage client for %s: %v", s.Endpoint, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Stop stops the server: it closes its listener and waits for the
// requests in flight. It does nothing when the server is stopped. The
// objects stay in memory.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	s.stop(false)
}

// Kill stops the server like a crash: every open connection is dropped,
// so requests in flight fail. It does nothing when the server is stopped.
func (s *Server) Kill(t testing.TB) {
	t.Helper()
	s.stop(true)
}

func (s *Server) stop(kill bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv == nil {
		return
	}
	if kill {
		s.srv.CloseClientConnections()
	}
	s.srv.Close()
	s.srv = nil
}

// Restart starts the stopped server again on the same address with the
// same objects. It fails the test when the server is running or the
// address cannot be bound again (another process took the port).
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		t.Fatalf("gcstest: restart %s: the server is running", s.Endpoint)
	}
	l, err := listen(s.addr)
	if err != nil {
		t.Fatalf("gcstest: restart %s: %v", s.Endpoint, err)
	}
	srv := newHTTPServer(s.fake.HTTPHandler())
	_ = srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	s.srv = srv
}

// Running reports whether the server is running.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.srv != nil
}

// listen listens on addr, retrying briefly while the previous listener's
// port is being released.
func listen(addr string) (net.Listener, error) {
	var err error
	for range 50 {
		var l net.Listener
		if l, err = net.Listen("tcp", addr); err == nil {
			return l, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil, err
}
