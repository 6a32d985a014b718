package gcs

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orbit-go/orbit/internal/testbackend/gcstest"
	"github.com/orbit-go/orbit/persistence/driver"
	"github.com/orbit-go/orbit/persistence/objstore"
)

func openBucket(t *testing.T, o Options) *bucket {
	t.Helper()
	b, err := newBucket(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// The entity tag is the generation: the same in the create result, Stat,
// Read and List, and a new one after a delete and a re-creation of the
// name.
func TestETagIsGeneration(t *testing.T) {
	srv := gcstest.Start(t)
	ctx := context.Background()
	b := openBucket(t, Options{Endpoint: srv.Endpoint, Bucket: srv.Bucket, Anonymous: true})
	const name = "p/k!!/0000000000000001-0000000000000000"
	e1, err := b.Create(ctx, name, []byte("body-1"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Create(ctx, name, []byte("body-2")); !errors.Is(err, driver.ErrConflict) {
		t.Fatalf("second create = %v, want ErrConflict", err)
	}
	if e, err := b.Stat(ctx, name); err != nil || e != e1 {
		t.Fatalf("stat = %q, %v; want %q", e, err, e1)
	}
	if body, e, err := b.Read(ctx, name); err != nil || e != e1 || string(body) != "body-1" {
		t.Fatalf("read = %q, %q, %v", body, e, err)
	}
	l, err := b.List(ctx, "p/", "", 10)
	if err != nil || len(l.Objects) != 1 || l.Objects[0].ETag != e1 || l.Objects[0].Size != 6 || l.More {
		t.Fatalf("list = %+v, %v", l, err)
	}
	if err := b.Remove(ctx, name); err != nil {
		t.Fatal(err)
	}
	if err := b.Remove(ctx, name); err != nil {
		t.Fatalf("remove of a removed name = %v", err)
	}
	if _, err := b.Stat(ctx, name); !errors.Is(err, driver.ErrNotFound) {
		t.Fatalf("stat of a removed name = %v", err)
	}
	if _, _, err := b.Read(ctx, name); !errors.Is(err, driver.ErrNotFound) {
		t.Fatalf("read of a removed name = %v", err)
	}
	e2, err := b.Create(ctx, name, []byte("body-1"))
	if err != nil || e2 == e1 {
		t.Fatalf("re-creation: %q (first %q), %v", e2, e1, err)
	}
}

// List: startAfter is exclusive, pages are limited and flagged, and the
// server's Date comes back as ServerTime.
func TestList(t *testing.T) {
	srv := gcstest.Start(t)
	ctx := context.Background()
	b := openBucket(t, Options{Endpoint: srv.Endpoint, Bucket: srv.Bucket, Anonymous: true})
	names := []string{"c/a", "c/b", "c/c", "c/d", "d/a"}
	for _, n := range names {
		if _, err := b.Create(ctx, n, []byte(n)); err != nil {
			t.Fatal(err)
		}
	}
	got := func(l objstore.Listing) string {
		var s []string
		for _, o := range l.Objects {
			s = append(s, o.Name)
		}
		return strings.Join(s, " ")
	}
	before := time.Now().Add(-2 * time.Second)
	l, err := b.List(ctx, "c/", "c/a", 2)
	if err != nil || got(l) != "c/b c/c" || !l.More {
		t.Fatalf("list after c/a = %s (more %v), %v", got(l), l.More, err)
	}
	if l.ServerTime.Before(before) || l.ServerTime.After(time.Now().Add(2*time.Second)) {
		t.Fatalf("server time %v", l.ServerTime)
	}
	if l, err = b.List(ctx, "c/", "c/c", 2); err != nil || got(l) != "c/d" || l.More {
		t.Fatalf("list after c/c = %s (more %v), %v", got(l), l.More, err)
	}
	// A page that would hold only startAfter is not returned empty.
	if l, err = b.List(ctx, "c/", "c/b", 1); err != nil || got(l) != "c/c" || !l.More {
		t.Fatalf("list of 1 after c/b = %s (more %v), %v", got(l), l.More, err)
	}
	if l, err = b.List(ctx, "c/", "c/d", 1); err != nil || got(l) != "" || l.More {
		t.Fatalf("list after the last = %s (more %v), %v", got(l), l.More, err)
	}
	if l, err = b.List(ctx, "c/", "c/", 1000); err != nil || got(l) != "c/a c/b c/c c/d" || l.More {
		t.Fatalf("list after the prefix = %s (more %v), %v", got(l), l.More, err)
	}
}

// lossy answers the first upload with a connection reset after the server
// has stored the object: the response is lost, the write is not.
type lossy struct {
	base    http.RoundTripper
	dropped atomic.Int64
}

func (l *lossy) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := l.base.RoundTrip(r)
	if err == nil && r.Method == http.MethodPost && strings.Contains(r.URL.Path, "/upload/") && l.dropped.Add(1) == 1 {
		resp.Body.Close()
		return nil, errors.New("read: connection reset by peer (simulated)")
	}
	return resp, err
}

// A create whose response is lost is retried; the retry's 412 is
// recognized as the first attempt's success (the object holds our body),
// not reported as a conflict. Someone else's object still is a conflict.
func TestCreateRetryAfterLostResponse(t *testing.T) {
	srv := gcstest.Start(t)
	ctx := context.Background()
	tr := &lossy{base: http.DefaultTransport}
	b := openBucket(t, Options{Endpoint: srv.Endpoint, Bucket: srv.Bucket, Anonymous: true, RetryCount: 2, HTTPClient: &http.Client{Transport: tr}})
	e, err := b.Create(ctx, "k", []byte("mine"))
	if err != nil || tr.dropped.Load() < 2 {
		t.Fatalf("create with a lost response = %q, %v (uploads %d)", e, err, tr.dropped.Load())
	}
	if got, err := b.Stat(ctx, "k"); err != nil || got != e {
		t.Fatalf("stat = %q, %v; want %q", got, err, e)
	}

	tr.dropped.Store(0)
	if _, err := b.Create(ctx, "k", []byte("other")); !errors.Is(err, driver.ErrConflict) {
		t.Fatalf("create over someone else's object after a lost response = %v, want ErrConflict", err)
	}

	// Without retries the lost response is an error, not a conflict.
	b0 := openBucket(t, Options{Endpoint: srv.Endpoint, Bucket: srv.Bucket, Anonymous: true, HTTPClient: &http.Client{Transport: &lossy{base: http.DefaultTransport}}})
	if _, err := b0.Create(ctx, "k2", []byte("x")); !errors.Is(err, driver.ErrUnavailable) || !strings.Contains(err.Error(), srv.Endpoint) {
		t.Fatalf("create with a lost response and no retry = %v, want ErrUnavailable", err)
	}
}

func TestEndpointURL(t *testing.T) {
	for _, tc := range []struct{ in, api, where string }{
		{"", DefaultEndpoint, "https://storage.googleapis.com"},
		{"http://127.0.0.1:4443", "http://127.0.0.1:4443/storage/v1/", "http://127.0.0.1:4443"},
		{"http://127.0.0.1:4443/", "http://127.0.0.1:4443/storage/v1/", "http://127.0.0.1:4443"},
		{"https://storage-psc.p.googleapis.com/storage/v1", "https://storage-psc.p.googleapis.com/storage/v1/", "https://storage-psc.p.googleapis.com/storage/v1"},
	} {
		api, where, err := endpointURL(tc.in)
		if err != nil || api != tc.api || where != tc.where {
			t.Errorf("endpointURL(%q) = %q, %q, %v; want %q, %q", tc.in, api, where, err, tc.api, tc.where)
		}
	}
	for _, bad := range []string{"ftp://h", "http://", "http://u:Secret-9@h:1", "h:4443"} {
		if _, _, err := endpointURL(bad); !errors.Is(err, driver.ErrInvalidArgument) || strings.Contains(err.Error(), "Secret-9") {
			t.Errorf("endpointURL(%q) = %v, want ErrInvalidArgument", bad, err)
		}
	}
}

// GCS object names are UTF-8: a key that is not is refused, not sent.
func TestInvalidUTF8(t *testing.T) {
	srv := gcstest.Start(t)
	b := openBucket(t, Options{Endpoint: srv.Endpoint, Bucket: srv.Bucket, Anonymous: true})
	if _, err := b.Create(context.Background(), "k\xff!!/1", []byte("x")); !errors.Is(err, driver.ErrInvalidArgument) {
		t.Fatalf("create of a name that is not UTF-8 = %v", err)
	}
}

// An insert into a missing bucket is ErrUnavailable, not ErrNotFound.
func TestCreateInMissingBucket(t *testing.T) {
	srv := gcstest.Start(t)
	b := openBucket(t, Options{Endpoint: srv.Endpoint, Bucket: "no-such-bucket", Anonymous: true})
	_, err := b.Create(context.Background(), "k", []byte("x"))
	if !errors.Is(err, driver.ErrUnavailable) || !strings.Contains(err.Error(), "the bucket does not exist") {
		t.Fatalf("create in a missing bucket = %v", err)
	}
	if l, err := b.List(context.Background(), "", "", 10); !errors.Is(err, driver.ErrUnavailable) || !strings.Contains(err.Error(), "the bucket does not exist") {
		t.Fatalf("list of a missing bucket = %+v, %v", l, err)
	}
}
