package objstore_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/orbit-go/orbit/internal/testbackend/s3test"
	"github.com/orbit-go/orbit/persistence/config"
	"github.com/orbit-go/orbit/persistence/driver"
	"github.com/orbit-go/orbit/persistence/s3"
)

// The protocol's own guarantees, tested through the S3 adapter against
// both test servers: writes on collected names are void, chains stay
// short, deleted keys are reclaimed, bodies carry their format and
// checksum.

func open(t *testing.T, srv *s3test.Server, retention time.Duration) (*s3.Store, string) {
	t.Helper()
	bucket := srv.NewBucket(t)
	s, err := s3.Open(context.Background(), s3.Options{
		Endpoint: srv.Endpoint, Region: srv.Region, Bucket: bucket, PathStyle: true,
		AccessKeyID: srv.AccessKey, SecretAccessKey: srv.SecretKey,
		Prefix: "p", TombstoneRetention: retention,
		// As configured by default: versitygw's posix backend answers a
		// transient ExistingObjectIsDirectory when a creation follows the
		// deletion of a directory's last object (see s3's transientCodes).
		RetryCount: config.DefaultS3Config().RetryCount,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	return s, bucket
}

// names lists the object names under p/ with the raw SDK.
func names(t *testing.T, srv *s3test.Server, bucket string) []string {
	t.Helper()
	out, err := srv.Client(t).ListObjectsV2(context.Background(), &awss3.ListObjectsV2Input{Bucket: &bucket, Prefix: aws.String("p/")})
	if err != nil {
		t.Fatal(err)
	}
	var ns []string
	for _, o := range out.Contents {
		ns = append(ns, aws.ToString(o.Key))
	}
	return ns
}

func mustPut(t *testing.T, s driver.Store, key, val string, cond driver.Condition) driver.Version {
	t.Helper()
	v, err := s.Put(context.Background(), key, []byte(val), cond)
	if err != nil {
		t.Fatalf("put %s=%s (%s): %v", key, val, cond, err)
	}
	return v
}

func mustGet(t *testing.T, s driver.Store, key, want string) {
	t.Helper()
	e, err := s.Get(context.Background(), key)
	if err != nil || string(e.Value) != want {
		t.Fatalf("get %s = %q, %v; want %q", key, e.Value, err, want)
	}
}

func TestProtocol(t *testing.T) {
	s3test.Each(t, func(t *testing.T, srv *s3test.Server) {
		t.Run("StaleWriteOnCollectedName", func(t *testing.T) { staleWrite(t, srv) })
		t.Run("ChainsStayShort", func(t *testing.T) { chainsStayShort(t, srv) })
		t.Run("Reclamation", func(t *testing.T) { reclamation(t, srv) })
		t.Run("ReclamationOfACreation", func(t *testing.T) { reclamationOfACreation(t, srv) })
		t.Run("VoidCreationUnderATombstone", func(t *testing.T) { voidCreation(t, srv) })
		t.Run("LostCreationThatCountsLater", func(t *testing.T) { lostCreationCountsLater(t, srv) })
		t.Run("BodyFormat", func(t *testing.T) { bodyFormat(t, srv) })
	})
}

// A writer holding a version whose successor's name was collected creates
// that name again: the write must be refused, and must not count.
func staleWrite(t *testing.T, srv *s3test.Server) {
	ctx := context.Background()
	s, bucket := open(t, srv, time.Hour)
	a := mustPut(t, s, "k", "a", driver.CreateOnly())
	b := mustPut(t, s, "k", "b", driver.MatchVersion(a))
	c := mustPut(t, s, "k", "c", driver.MatchVersion(b))
	mustPut(t, s, "k", "d", driver.MatchVersion(c))
	if _, err := s.Collect(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if ns := names(t, srv, bucket); len(ns) != 2 {
		t.Fatalf("after collection: %v, want the head and its predecessor", ns)
	}
	// b's successor (c) is kept: a plain collision. a's successor (b) was
	// collected: the create succeeds and must be detected as void.
	for _, v := range []driver.Version{b, a} {
		if _, err := s.Put(ctx, "k", []byte("stale"), driver.MatchVersion(v)); !errors.Is(err, driver.ErrConflict) {
			t.Fatalf("put on stale version %s = %v, want a conflict", v, err)
		}
		if err := s.Delete(ctx, "k", driver.MatchVersion(v)); !errors.Is(err, driver.ErrConflict) {
			t.Fatalf("delete on stale version %s = %v, want a conflict", v, err)
		}
		mustGet(t, s, "k", "d")
	}
	// The stale objects never count and are collected.
	if _, err := s.Collect(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if ns := names(t, srv, bucket); len(ns) != 2 {
		t.Fatalf("after collecting void writes: %v", ns)
	}
	mustGet(t, s, "k", "d")
}

func chainsStayShort(t *testing.T, srv *s3test.Server) {
	ctx := context.Background()
	s, bucket := open(t, srv, time.Hour)
	v := mustPut(t, s, "renewed", "0", driver.CreateOnly())
	for i := 1; i <= 30; i++ {
		v = mustPut(t, s, "renewed", strings.Repeat("x", i), driver.MatchVersion(v))
		if i%10 == 0 {
			if _, err := s.Get(ctx, "renewed"); err != nil { // a read queues the collection
				t.Fatal(err)
			}
		}
	}
	if _, err := s.Collect(ctx, "renewed"); err != nil {
		t.Fatal(err)
	}
	if ns := names(t, srv, bucket); len(ns) != 2 {
		t.Fatalf("after 30 writes and collection: %d objects %v, want 2", len(ns), ns)
	}
	mustGet(t, s, "renewed", strings.Repeat("x", 30))
}

// A deleted key keeps one tombstone until it is older than the retention,
// then costs nothing; a writer holding a version from before the deletion
// is refused even after the key's storage is gone; a new creation works.
func reclamation(t *testing.T, srv *s3test.Server) {
	ctx := context.Background()
	s, bucket := open(t, srv, time.Second)
	a := mustPut(t, s, "gone", "a", driver.CreateOnly())
	b := mustPut(t, s, "gone", "b", driver.MatchVersion(a))
	if err := s.Delete(ctx, "gone", driver.MatchVersion(b)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "gone"); !errors.Is(err, driver.ErrNotFound) {
		t.Fatalf("get after delete = %v", err)
	}
	if _, err := s.Collect(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	if ns := names(t, srv, bucket); len(ns) != 2 {
		t.Fatalf("young tombstone: %v, want the tombstone and the object it replaced", ns)
	}
	// Ages are measured on the server's clock, in whole seconds.
	deadline := time.Now().Add(10 * time.Second)
	for len(names(t, srv, bucket)) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("tombstone not reclaimed: %v", names(t, srv, bucket))
		}
		time.Sleep(200 * time.Millisecond)
		if _, err := s.Collect(ctx, "gone"); err != nil {
			t.Fatal(err)
		}
	}
	for _, v := range []driver.Version{a, b} {
		if _, err := s.Put(ctx, "gone", []byte("stale"), driver.MatchVersion(v)); !errors.Is(err, driver.ErrConflict) {
			t.Fatalf("put on a version from before the deletion = %v, want a conflict", err)
		}
		if _, err := s.Get(ctx, "gone"); !errors.Is(err, driver.ErrNotFound) {
			t.Fatalf("a void write became visible: %v", err)
		}
	}
	mustPut(t, s, "gone", "again", driver.CreateOnly())
	mustGet(t, s, "gone", "again")
}

// collectUntil collects key until the bucket holds want objects.
func collectUntil(t *testing.T, srv *s3test.Server, s *s3.Store, bucket, key string, want int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, err := s.Collect(context.Background(), key); err != nil {
			t.Fatal(err)
		}
		ns := names(t, srv, bucket)
		if len(ns) == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("collection of %s: %v, want %d objects", key, ns, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// A key created once and deleted rests on its creation: its name is
// removed only under a fresh tombstone, then the key is reclaimed.
func reclamationOfACreation(t *testing.T, srv *s3test.Server) {
	ctx := context.Background()
	s, bucket := open(t, srv, time.Second)
	mustPut(t, s, "once", "a", driver.CreateOnly())
	if err := s.Delete(ctx, "once", driver.Unconditional()); err != nil {
		t.Fatal(err)
	}
	collectUntil(t, srv, s, bucket, "once", 0)
	if _, err := s.Get(ctx, "once"); !errors.Is(err, driver.ErrNotFound) {
		t.Fatalf("get after reclamation = %v", err)
	}
	mustPut(t, s, "once", "again", driver.CreateOnly())
	mustGet(t, s, "once", "again")
}

// After a deletion and a collection, the creation name of the key is free
// and a create-only write lands on it while the tombstone counts: the
// writer must see that creation lose, write after the tombstone, and
// succeed; nothing older comes back.
func voidCreation(t *testing.T, srv *s3test.Server) {
	ctx := context.Background()
	s, bucket := open(t, srv, time.Hour)
	a := mustPut(t, s, "k", "a", driver.CreateOnly())
	b := mustPut(t, s, "k", "b", driver.MatchVersion(a))
	if err := s.Delete(ctx, "k", driver.MatchVersion(b)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Collect(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if ns := names(t, srv, bucket); len(ns) != 2 || strings.HasSuffix(ns[0], "-0000000000000000") {
		t.Fatalf("after collection: %v, want b's object and the tombstone", ns)
	}
	mustPut(t, s, "k", "c", driver.CreateOnly())
	mustGet(t, s, "k", "c")
	if _, err := s.Put(ctx, "k", []byte("d"), driver.CreateOnly()); !errors.Is(err, driver.ErrConflict) {
		t.Fatalf("second create-only put = %v, want a conflict", err)
	}
	if _, err := s.Collect(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	mustGet(t, s, "k", "c")
}

// A create-only write on a deleted key lands on the key's collected
// creation name and is judged lost (the tombstone counts); before the
// writer re-lists, another collector finally removes what the tombstone
// rests on, so the writer's own object is now the head: the write took
// effect and must report success, not "key exists".
func lostCreationCountsLater(t *testing.T, srv *s3test.Server) {
	ctx := context.Background()
	bucket := srv.NewBucket(t)
	var (
		armed, created atomic.Bool
		lists          atomic.Int32
		predName       atomic.Value
	)
	raw := srv.Client(t)
	target, err := url.Parse(srv.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	// Listings pass one at a time, so that the removal below happens
	// between two listings, never during one.
	var listMu sync.Mutex
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		isList := r.Method == http.MethodGet && r.URL.Query().Get("list-type") == "2"
		if isList {
			listMu.Lock()
			defer listMu.Unlock()
		}
		switch {
		case !armed.Load():
		case r.Method == http.MethodPut && strings.Contains(r.URL.Path, "k!!/0000000000000001-0000000000000000"):
			created.Store(true)
		case created.Load() && isList:
			if lists.Add(1) == 2 { // after the writer's check of its creation
				name := predName.Load().(string)
				if _, err := raw.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: &bucket, Key: &name}); err != nil {
					t.Error(err)
				}
			}
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	openAt := func(endpoint string) *s3.Store {
		st, err := s3.Open(ctx, s3.Options{
			Endpoint: endpoint, Region: srv.Region, Bucket: bucket, PathStyle: true,
			AccessKeyID: srv.AccessKey, SecretAccessKey: srv.SecretKey,
			Prefix: "p", TombstoneRetention: time.Hour,
		})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	// The history, written by a store that is closed afterwards: its
	// background collector (which could act on a listing taken before the
	// hook's removal, an event the protocol itself never produces while
	// the tombstone is young) is stopped before the race.
	setup := openAt(srv.Endpoint)
	a := mustPut(t, setup, "k", "a", driver.CreateOnly())
	b := mustPut(t, setup, "k", "b", driver.MatchVersion(a))
	if err := setup.Delete(ctx, "k", driver.MatchVersion(b)); err != nil {
		t.Fatal(err)
	}
	if _, err := setup.Collect(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if err := setup.Close(ctx); err != nil {
		t.Fatal(err)
	}
	ns := names(t, srv, bucket)
	if len(ns) != 2 {
		t.Fatalf("after collection: %v", ns)
	}
	predName.Store(ns[0])
	s := openAt(front.URL)
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	armed.Store(true)
	if _, err := s.Put(ctx, "k", []byte("c"), driver.CreateOnly()); err != nil {
		t.Fatalf("create-only put whose object became the head: %v", err)
	}
	if !created.Load() || lists.Load() < 2 {
		t.Fatalf("the race was not reproduced (creation seen %t, %d listings after it)", created.Load(), lists.Load())
	}
	mustGet(t, s, "k", "c")
}

func bodyFormat(t *testing.T, srv *s3test.Server) {
	ctx := context.Background()
	s, bucket := open(t, srv, time.Hour)
	mustPut(t, s, "f", "value", driver.CreateOnly())
	ns := names(t, srv, bucket)
	if len(ns) != 1 || !strings.HasPrefix(ns[0], "p/f!!/0000000000000001-") {
		t.Fatalf("objects = %v", ns)
	}
	cl := srv.Client(t)
	out, err := cl.GetObject(ctx, &awss3.GetObjectInput{Bucket: &bucket, Key: &ns[0]})
	if err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	_, _ = body.ReadFrom(out.Body)
	out.Body.Close()
	if b := body.Bytes(); len(b) != 18+5 || string(b[:4]) != "ORBS" || b[4] != 1 || b[5] != 'v' || string(b[18:]) != "value" {
		t.Fatalf("body = %q", b)
	}
	// An empty value is a value, not a deletion.
	if _, err := s.Put(ctx, "nil", nil, driver.CreateOnly()); err != nil {
		t.Fatal(err)
	}
	if e, err := s.Get(ctx, "nil"); err != nil || len(e.Value) != 0 {
		t.Fatalf("get of an empty value = %q, %v", e.Value, err)
	}
	// A foreign object under a chain name is reported, not decoded.
	bad := "p/g!!/0000000000000001-0000000000000000"
	if _, err := cl.PutObject(ctx, &awss3.PutObjectInput{Bucket: &bucket, Key: &bad, Body: strings.NewReader("not orbit's")}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "g"); !errors.Is(err, driver.ErrCorrupt) || !strings.Contains(err.Error(), bad) {
		t.Fatalf("get of a foreign object = %v", err)
	}
}
