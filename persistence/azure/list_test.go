package azure

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"

	"github.com/orbit-go/orbit/internal/testbackend/azuritetest"
)

// testBucket returns a bucket on a new container of srv (shared key).
func testBucket(t *testing.T, srv *azuritetest.Server) *bucket {
	t.Helper()
	b, err := newBucket(Options{Endpoint: srv.Endpoint, AccountName: srv.AccountName, AccountKey: srv.AccountKey, Container: srv.NewContainer(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// startFromProxy serves srv through a reverse proxy that gives List Blobs
// the startFrom Azurite lacks, in its exclusive form (names after it, as
// an Azurite marker does): startFrom becomes the marker of a request that
// has none. The bucket reaches it with a container SAS, which (unlike a
// shared key signature) does not sign the query it rewrites.
func startFromProxy(t *testing.T, srv *azuritetest.Server, ctr string) *bucket {
	t.Helper()
	target, err := url.Parse(srv.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	rp := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(&url.URL{Scheme: target.Scheme, Host: target.Host})
		q := r.Out.URL.Query()
		if from := q.Get("startFrom"); from != "" {
			if q.Get("marker") == "" {
				q.Set("marker", from)
			}
			q.Del("startFrom")
			r.Out.URL.RawQuery = q.Encode()
		}
	}}
	proxy := httptest.NewServer(rp)
	t.Cleanup(proxy.Close)
	token, err := srv.Client(t).ServiceClient().NewContainerClient(ctr).GetSASURL(
		sas.ContainerPermissions{Read: true, Add: true, Create: true, Write: true, Delete: true, List: true},
		time.Now().Add(time.Hour), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, query, _ := strings.Cut(token, "?")
	b, err := newBucket(Options{Endpoint: proxy.URL + target.Path, SASToken: query, Container: ctr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// collect pages through List as the engine does (the next startAfter is
// the last name of the page), checking every page.
func collect(t *testing.T, b *bucket, prefix, startAfter string, limit int) []string {
	t.Helper()
	var out []string
	after := startAfter
	for calls := 0; ; calls++ {
		if calls > 100 {
			t.Fatalf("List(%q, %q, %d): no end after 100 pages", prefix, startAfter, limit)
		}
		l, err := b.List(context.Background(), prefix, after, limit)
		if err != nil {
			t.Fatalf("List(%q, %q, %d): %v", prefix, after, limit, err)
		}
		if len(l.Objects) > limit {
			t.Fatalf("List(%q, %q, %d): %d objects", prefix, after, limit, len(l.Objects))
		}
		if len(l.Objects) == 0 && l.More {
			t.Fatalf("List(%q, %q, %d): an empty page with More", prefix, after, limit)
		}
		for _, o := range l.Objects {
			if o.Name <= after || !strings.HasPrefix(o.Name, prefix) || o.ETag == "" || strings.Contains(o.ETag, `"`) || o.Modified.IsZero() {
				t.Fatalf("List(%q, %q, %d): object %+v", prefix, after, limit, o)
			}
			after = o.Name
			out = append(out, o.Name)
		}
		if !l.More || len(l.Objects) == 0 {
			return out
		}
	}
}

// List returns exactly the names under the prefix that sort after
// startAfter, in order, paged at any limit, for every kind of startAfter:
// on Azurite as it is (startFrom ignored: markers and skipping) and behind
// a proxy that honors startFrom.
func TestListStartAfter(t *testing.T) {
	srv := azuritetest.Start(t)
	direct := testBucket(t, srv)
	names := []string{"o", "p", "p!", "p/", "p/a", "p/a!!/1", "p/a/b", "p/a0", "p/b", "p/b!", "p/c", "p/c/d/e", "p0", "q/a"}
	for _, n := range names {
		if _, err := direct.Create(context.Background(), n, []byte(n)); err != nil {
			t.Fatal(err)
		}
	}
	proxied := startFromProxy(t, srv, direct.name)
	slices.Sort(names)
	afters := []string{"", "a", "o", "p", "p!", "p.", "p/", "p/a", "p/a!", "p/a!!/1", "p/a/", "p/a/b", "p/aa", "p/b", "p/b!", "p/bz", "p/c", "p/c/d/e", "p/d", "p0", "p00", "q", "z"}
	for _, tc := range []struct {
		name string
		b    *bucket
	}{{"azurite", direct}, {"startFrom", proxied}} {
		t.Run(tc.name, func(t *testing.T) {
			for _, prefix := range []string{"", "p", "p/", "p/a", "p/c/", "x"} {
				for _, after := range afters {
					var want []string
					for _, n := range names {
						if strings.HasPrefix(n, prefix) && n > after {
							want = append(want, n)
						}
					}
					for _, limit := range []int{1, 2, 3, 1000} {
						if got := collect(t, tc.b, prefix, after, limit); !slices.Equal(got, want) {
							t.Errorf("prefix %q, after %q, limit %d: %q, want %q", prefix, after, limit, got, want)
						}
					}
				}
			}
		})
	}
	if !direct.list.startFromIgnored.Load() {
		t.Error("Azurite's ignoring of startFrom went unnoticed")
	}
	if proxied.list.startFromIgnored.Load() {
		t.Error("the proxy's startFrom was taken as ignored")
	}
}

// countingTransport counts the requests it carries.
type countingTransport struct {
	next http.RoundTripper
	n    atomic.Int64
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.next.RoundTrip(r)
}

// Paging the engine's way on a server that ignores startFrom costs one
// request per page after the first startFrom attempt: each page continues
// from the marker of the one before.
func TestListPagesFollowMarkers(t *testing.T) {
	srv := azuritetest.Start(t)
	b := testBucket(t, srv)
	for i := 0; i < 30; i++ {
		if _, err := b.Create(context.Background(), fmt.Sprintf("k/%02d", i), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	rt := &countingTransport{next: http.DefaultTransport}
	cb, err := newBucket(Options{Endpoint: srv.Endpoint, AccountName: srv.AccountName, AccountKey: srv.AccountKey,
		Container: b.name, HTTPClient: &http.Client{Transport: rt}})
	if err != nil {
		t.Fatal(err)
	}
	// 8 pages of 4: the first lists the prefix; the second tries startFrom
	// (Azurite answers from the container's first name: ignored) and
	// continues from the first page's marker; the others follow markers.
	if got := collect(t, cb, "k/", "k/", 4); len(got) != 30 || rt.n.Load() != 9 {
		t.Fatalf("%d names in %d requests, want 30 in 9", len(got), rt.n.Load())
	}
	rt.n.Store(0)
	if got := collect(t, cb, "k/", "k/", 4); len(got) != 30 || rt.n.Load() != 8 {
		t.Fatalf("again: %d names in %d requests, want 30 in 8", len(got), rt.n.Load())
	}
	// Without a marker, from a name in the middle: skipping from the
	// prefix's first name (k/00..k/15 in 4 requests, returning k/14 and
	// k/15), then markers (k/16..k/29 in 4).
	rt.n.Store(0)
	if got := collect(t, cb, "k/", "k/13", 4); len(got) != 16 || rt.n.Load() != 8 {
		t.Fatalf("after k/13: %d names in %d requests, want 16 in 8", len(got), rt.n.Load())
	}
}
