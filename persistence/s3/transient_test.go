package s3_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"testing"

	"github.com/orbit-go/orbit/internal/testbackend/s3test"
	"github.com/orbit-go/orbit/persistence/driver"
)

// versitygw answers a creation that raced the removal of its key's
// directory with 409 ExistingObjectIsDirectory, although nothing is in
// the way; the store resends it instead of failing with ErrUnavailable.
// A proxy in front of the real server answers the first creation so, in
// versitygw's own words.
func TestExistingObjectIsDirectoryIsRetried(t *testing.T) {
	srv := s3test.Start(t)
	target, err := url.Parse(srv.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	var puts, refused atomic.Int64
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && r.Header.Get("If-None-Match") == "*" { // a creation
			if puts.Add(1) == 1 {
				refused.Add(1)
				w.Header().Set("Content-Type", "application/xml")
				w.WriteHeader(http.StatusConflict)
				_, _ = w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?>` +
					`<Error><Code>ExistingObjectIsDirectory</Code><Message>Existing Object is a directory.</Message>` +
					`<Resource></Resource><RequestId></RequestId><HostId></HostId></Error>`))
				return
			}
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)

	c := s3Config(srv)
	c.Endpoint = front.URL
	s := openConfig(t, c)
	ctx := context.Background()
	if _, err := s.Put(ctx, "k", []byte("v"), driver.CreateOnly()); err != nil {
		t.Fatalf("put after one ExistingObjectIsDirectory = %v, want it resent", err)
	}
	if refused.Load() != 1 || puts.Load() < 2 {
		t.Fatalf("%d creations seen, %d refused: the refusal was not exercised", puts.Load(), refused.Load())
	}
	if e, err := s.Get(ctx, "k"); err != nil || string(e.Value) != "v" {
		t.Fatalf("get = %q, %v", e.Value, err)
	}

	// With retries off the refusal reaches the caller as the backend's
	// failure, not as a conflict: nothing was written.
	puts.Store(0)
	c.RetryCount = 0
	s0 := openConfig(t, c)
	if _, err := s0.Put(ctx, "k2", []byte("v"), driver.CreateOnly()); !errors.Is(err, driver.ErrUnavailable) {
		t.Fatalf("put with retries off = %v, want ErrUnavailable", err)
	}
}
