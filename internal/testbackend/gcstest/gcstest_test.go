package gcstest_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/storage"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/iterator"

	"github.com/orbit-go/orbit/internal/testbackend/gcstest"
)

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func status(err error) int {
	var ge *googleapi.Error
	if errors.As(err, &ge) {
		return ge.Code
	}
	return 0
}

// create writes body under name only if it does not exist, and returns
// the new generation.
func create(ctx context.Context, o *storage.ObjectHandle, body string) (int64, error) {
	w := o.If(storage.Conditions{DoesNotExist: true}).NewWriter(ctx)
	w.ChunkSize = 0
	if _, err := io.WriteString(w, body); err != nil {
		_ = w.Close()
		return 0, err
	}
	if err := w.Close(); err != nil {
		return 0, err
	}
	return w.Attrs().Generation, nil
}

func list(ctx context.Context, b *storage.BucketHandle, q *storage.Query, max int) ([]*storage.ObjectAttrs, string, error) {
	var page []*storage.ObjectAttrs
	tok, err := iterator.NewPager(b.Objects(ctx, q), max, "").NextPage(&page)
	return page, tok, err
}

// TestGCS checks, and logs, what the provider relies on from the emulator
// (the package documentation lists it).
func TestGCS(t *testing.T) {
	s := gcstest.Start(t)
	ctx := ctx(t)
	if !strings.HasPrefix(s.Endpoint, "http://127.0.0.1:") || len(s.Bucket) < 3 || s.Bucket != strings.ToLower(s.Bucket) {
		t.Fatalf("server %+v", s)
	}
	c := s.Client(t)
	b := c.Bucket(s.Bucket)
	if _, err := b.Attrs(ctx); err != nil {
		t.Fatalf("bucket attrs: %v", err)
	}
	if _, err := c.Bucket("no-such-bucket").Attrs(ctx); !errors.Is(err, storage.ErrBucketNotExist) {
		t.Fatalf("attrs of a missing bucket = %v, want ErrBucketNotExist", err)
	}
	// An insert into a missing bucket is a 404, as on GCS.
	if _, err := create(ctx, c.Bucket("no-such-bucket").Object("x"), "x"); status(err) != http.StatusNotFound {
		t.Fatalf("insert into a missing bucket = %v, want a 404", err)
	}

	// Create only.
	name := "p/a!!/0000000000000001-0000000000000000"
	o := b.Object(name)
	gen1, err := create(ctx, o, "v1")
	if err != nil || gen1 == 0 {
		t.Fatalf("first create: %d, %v", gen1, err)
	}
	if _, err := create(ctx, o, "v2"); status(err) != http.StatusPreconditionFailed {
		t.Fatalf("second create = %v, want 412", err)
	}

	// The generation is the same in attrs, XML reads and listings.
	a, err := o.Attrs(ctx)
	if err != nil || a.Generation != gen1 {
		t.Fatalf("attrs: %+v, %v; want generation %d", a, err, gen1)
	}
	r, err := o.NewReader(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	body, err := io.ReadAll(r)
	r.Close()
	if err != nil || string(body) != "v1" || r.Attrs.Generation != gen1 {
		t.Fatalf("read: %q, generation %d, %v", body, r.Attrs.Generation, err)
	}
	objs, _, err := list(ctx, b, &storage.Query{Prefix: "p/"}, 10)
	if err != nil || len(objs) != 1 || objs[0].Generation != gen1 || objs[0].Size != 2 || objs[0].Updated.IsZero() {
		t.Fatalf("list: %v, %v", objs, err)
	}
	t.Logf("generation %d, listed updated %v", gen1, objs[0].Updated)

	// Delete preconditions are ignored; a delete of a missing object is a
	// 404; a re-creation gets a new generation.
	if err := o.If(storage.Conditions{GenerationMatch: gen1 + 1}).Delete(ctx); err != nil {
		t.Fatalf("delete with a stale generation = %v (the emulator ignores delete preconditions)", err)
	}
	if err := o.Delete(ctx); !errors.Is(err, storage.ErrObjectNotExist) || status(err) != http.StatusNotFound {
		t.Fatalf("delete of a missing object = %v, want a 404", err)
	}
	if _, err := o.NewReader(ctx); !errors.Is(err, storage.ErrObjectNotExist) {
		t.Fatalf("read of a missing object = %v", err)
	}
	if _, err := o.Attrs(ctx); !errors.Is(err, storage.ErrObjectNotExist) {
		t.Fatalf("attrs of a missing object = %v", err)
	}
	gen2, err := create(ctx, o, "v1")
	if err != nil || gen2 == gen1 {
		t.Fatalf("re-creation: generation %d (first %d), %v", gen2, gen1, err)
	}

	// Listings: byte order, prefix, inclusive startOffset, pages.
	for _, n := range []string{"p/a!!/0000000000000002-00000000000000ff", "p/a0", "p/a/x", "p/b", "q/a"} {
		if _, err := create(ctx, b.Object(n), "x"); err != nil {
			t.Fatal(err)
		}
	}
	names := func(objs []*storage.ObjectAttrs) string {
		var s []string
		for _, o := range objs {
			s = append(s, o.Name)
		}
		return strings.Join(s, " ")
	}
	objs, tok, err := list(ctx, b, &storage.Query{Prefix: "p/a", StartOffset: name}, 2)
	if err != nil || names(objs) != name+" p/a!!/0000000000000002-00000000000000ff" || tok == "" {
		t.Fatalf("list from %q = %s (token %q), %v", name, names(objs), tok, err)
	}
	var all []*storage.ObjectAttrs
	p := iterator.NewPager(b.Objects(ctx, &storage.Query{Prefix: "p/"}), 2, "")
	for {
		tok, err := p.NextPage(&all)
		if err != nil {
			t.Fatal(err)
		}
		if tok == "" {
			break
		}
	}
	if got := names(all); got != name+" p/a!!/0000000000000002-00000000000000ff p/a/x p/a0 p/b" {
		t.Fatalf("paged listing = %s", got)
	}
}

// Of concurrent create-only inserts of one name, exactly one wins.
func TestCreateIsAtomic(t *testing.T) {
	s := gcstest.Start(t)
	ctx := ctx(t)
	b := s.Client(t).Bucket(s.Bucket)
	for round := range 20 {
		o := b.Object(fmt.Sprintf("race/%d", round))
		var wins, lost atomic.Int64
		var wg sync.WaitGroup
		for i := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := create(ctx, o, fmt.Sprint(i))
				switch {
				case err == nil:
					wins.Add(1)
				case status(err) == http.StatusPreconditionFailed:
					lost.Add(1)
				default:
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if wins.Load() != 1 || lost.Load() != 15 {
			t.Fatalf("round %d: %d wins, %d lost", round, wins.Load(), lost.Load())
		}
	}
}

// Stop, Kill and Restart: requests fail while the server is down and work
// again on the same address, with the objects kept.
func TestRestart(t *testing.T) {
	s := gcstest.Start(t)
	ctx := ctx(t)
	c := s.Client(t)
	o := c.Bucket(s.Bucket).Object("k")
	if _, err := create(ctx, o, "v"); err != nil {
		t.Fatal(err)
	}
	for _, kill := range []bool{false, true} {
		if kill {
			s.Kill(t)
		} else {
			s.Stop(t)
		}
		if s.Running() {
			t.Fatal("running after stop")
		}
		short, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := o.Retryer(storage.WithPolicy(storage.RetryNever)).Attrs(short)
		cancel()
		if err == nil {
			t.Fatalf("attrs while stopped (kill %v) succeeded", kill)
		}
		s.Restart(t)
		if a, err := o.Attrs(ctx); err != nil || a.Size != 1 {
			t.Fatalf("attrs after restart: %+v, %v", a, err)
		}
	}
	b2 := s.NewBucket(t)
	if b2 == s.Bucket {
		t.Fatal("NewBucket returned the same name")
	}
}
