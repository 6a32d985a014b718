package azure

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"testing"

	"github.com/orbit-go/orbit/internal/testbackend/azuritetest"
	"github.com/orbit-go/orbit/persistence/driver"
)

// A create whose first attempt worked but whose answer was lost is resent
// by the SDK; the resend finds the blob and the create reports success,
// because the blob's Content-MD5 is that of our (unique) body. A create of
// another body on that name is still a conflict.
func TestCreateRecognisesItsOwnResentUpload(t *testing.T) {
	srv := azuritetest.Start(t)
	target, err := url.Parse(srv.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	var dropped atomic.Int32
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: target.Scheme, Host: target.Host})
	proxy.ModifyResponse = func(resp *http.Response) error {
		req := resp.Request
		if req.Method == http.MethodPut && req.Header.Get("If-None-Match") == "*" && resp.StatusCode == http.StatusCreated &&
			dropped.CompareAndSwap(0, 1) {
			// The blob is created; the client gets an error instead.
			_ = resp.Body.Close()
			resp.StatusCode, resp.Status = http.StatusServiceUnavailable, "503 Service Unavailable"
			resp.Body = io.NopCloser(bytes.NewReader(nil))
			resp.ContentLength = 0
			resp.Header.Del("Content-Length")
		}
		return nil
	}
	front := httptest.NewServer(proxy)
	t.Cleanup(front.Close)
	endpoint := front.URL + target.Path
	b, err := newBucket(Options{Endpoint: endpoint, AccountName: srv.AccountName, AccountKey: srv.AccountKey, Container: srv.NewContainer(t), RetryCount: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	ctx := context.Background()
	etag, err := b.Create(ctx, "chain!!/0000000000000001-0000000000000000", []byte("body with unique bytes 1"))
	if err != nil || etag == "" {
		t.Fatalf("create with a lost answer: %q, %v", etag, err)
	}
	if dropped.Load() != 1 {
		t.Fatal("the proxy dropped no answer: the test tests nothing")
	}
	if got, err := b.Stat(ctx, "chain!!/0000000000000001-0000000000000000"); err != nil || got != etag {
		t.Fatalf("stat: %q %v, want %q", got, err, etag)
	}
	if _, err := b.Create(ctx, "chain!!/0000000000000001-0000000000000000", []byte("another body")); !errors.Is(err, driver.ErrConflict) {
		t.Fatalf("create of another body on a taken name: %v, want a conflict", err)
	}
}
