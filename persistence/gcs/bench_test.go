package gcs_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/storage"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"

	"github.com/orbit-go/orbit/internal/benchutil"
	"github.com/orbit-go/orbit/internal/testbackend/gcstest"
	"github.com/orbit-go/orbit/persistence"
)

// BenchmarkGCS compares Orbit's Google Cloud Storage provider, through the
// persistence API, with the raw cloud.google.com/go/storage client on the
// same fake-gcs-server in the same run, 16 goroutines
// (benchutil.RunParallel), reporting ops/s.
//
//	op=get    orbit: AddressableDirectory.Get = a listing of the lease's
//	          chain (its body is cached: objects never change);
//	          raw-get: one object read (a naive one-object-per-lease layout);
//	          raw-same-requests: the chain listing + the read (orbit's
//	          requests on a cache miss).
//	op=place  orbit: Place of a new addressable = listing (absent) + index
//	          creation (insert ifGenerationMatch=0 + listing) + lease
//	          creation (insert + listing); raw-2-creates: the fewest
//	          requests of an atomic place with a node index (two create-only
//	          inserts, no check of collected names); raw-same-requests:
//	          orbit's five requests.
//	op=renew  orbit: Renew of a held lease (version cached) = create-only
//	          insert of the successor + metadata read of the predecessor;
//	          raw-if-generation-match: one insert with ifGenerationMatch
//	          (an in-place compare-and-swap, which the protocol does not
//	          use: it keeps one protocol for every object store);
//	          raw-same-requests: insert + metadata read.
//
// Every run starts on a new bucket (with the 256 held leases and their raw
// twins for get and renew), because fake-gcs-server's requests cost time
// linear in the bucket's size: a run that creates objects slows down as it
// goes, so compare runs of the same -benchtime.
func BenchmarkGCS(b *testing.B) {
	srv := gcstest.Start(b)
	ctx := context.Background()
	// The raw client with the provider's HTTP settings: a plain transport
	// (the client's default wraps every request in an OpenTelemetry span,
	// which the provider does not), 64 idle connections per host.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	b.Cleanup(tr.CloseIdleConnections)
	raw, err := storage.NewClient(ctx, option.WithHTTPClient(&http.Client{Transport: tr}), option.WithoutAuthentication(),
		option.WithEndpoint(srv.Endpoint+"/storage/v1/"), storage.WithDisabledClientMetrics())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { raw.Close() })
	const keys = 256
	const ttl = 10 * time.Minute
	n1 := persistence.NodeID{Namespace: "default", Key: "bench-node"}
	ref := func(k string) persistence.AddressableReference {
		return persistence.AddressableReference{Namespace: "default", Type: "Greeter", Key: persistence.StringKey(k)}
	}
	body := bytes.Repeat([]byte("x"), 96) // about an encoded lease
	var bucketName string
	bucket := func() *storage.BucketHandle { return raw.Bucket(bucketName) }
	rawKey := func(k string) string { return "raw/a/default/Greeter/s" + k }
	put := func(name string, cond storage.Conditions) (int64, error) {
		w := bucket().Object(name).If(cond).NewWriter(ctx)
		w.ChunkSize = 0
		w.ContentType = "application/octet-stream"
		if _, err := w.Write(body); err != nil {
			_ = w.Close()
			return 0, err
		}
		if err := w.Close(); err != nil {
			return 0, err
		}
		return w.Attrs().Generation, nil
	}
	ifNone := storage.Conditions{DoesNotExist: true}
	list := func(prefix string) error { // as the provider lists a chain
		q := &storage.Query{Prefix: prefix, StartOffset: prefix, Projection: storage.ProjectionNoACL}
		if err := q.SetAttrSelection([]string{"Name", "Generation", "Size", "Updated"}); err != nil {
			return err
		}
		var page []*storage.ObjectAttrs
		_, err := iterator.NewPager(bucket().Objects(ctx, q), 1000, "").NextPage(&page)
		return err
	}
	read := func(name string) error {
		r, err := bucket().Object(name).NewReader(ctx)
		if err != nil {
			return err
		}
		_, err = r.WriteTo(devNull{})
		r.Close()
		return err
	}
	// open opens the provider on a new, empty bucket, which the raw
	// client's requests use too: every request of fake-gcs-server costs
	// time linear in the bucket's size, so every run starts alike.
	open := func(b *testing.B) persistence.AddressableDirectory {
		c := gcsConfig(srv)
		c.BucketName = srv.NewBucket(b)
		bucketName = c.BucketName
		p, err := persistence.Open(ctx, "gcs", &c)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { p.Close(ctx) })
		return p.Addressables()
	}
	// seed places the held leases and writes their raw twins.
	held := make([]persistence.AddressableLease, keys)
	gens := make([]int64, keys) // index i is used by one goroutine at a time
	seed := func(b *testing.B) persistence.AddressableDirectory {
		addrs := open(b)
		for i := range held {
			k := fmt.Sprint("held-", i)
			var err error
			if held[i], err = addrs.Place(ctx, ref(k), n1, ttl); err != nil {
				b.Fatal(err)
			}
			if gens[i], err = put(rawKey(k), ifNone); err != nil {
				b.Fatal(err)
			}
		}
		return addrs
	}
	var seq atomic.Int64
	run := func(b *testing.B, fn func(i int) error) { benchutil.RunParallel(b, keys, fn) }

	b.Run("op=get", func(b *testing.B) {
		b.Run("impl=orbit", func(b *testing.B) {
			addrs := seed(b)
			run(b, func(i int) error { _, err := addrs.Get(ctx, held[i].Reference); return err })
		})
		b.Run("impl=raw-get", func(b *testing.B) {
			seed(b)
			run(b, func(i int) error { return read(rawKey(fmt.Sprint("held-", i))) })
		})
		b.Run("impl=raw-same-requests", func(b *testing.B) {
			seed(b)
			run(b, func(i int) error {
				k := rawKey(fmt.Sprint("held-", i))
				if err := list(k + "!!/"); err != nil {
					return err
				}
				return read(k)
			})
		})
	})
	b.Run("op=place", func(b *testing.B) {
		b.Run("impl=orbit", func(b *testing.B) {
			addrs := open(b)
			run(b, func(int) error {
				_, err := addrs.Place(ctx, ref(fmt.Sprint("new-", seq.Add(1))), n1, ttl)
				return err
			})
		})
		b.Run("impl=raw-2-creates", func(b *testing.B) {
			open(b)
			run(b, func(int) error {
				k := fmt.Sprint("new-", seq.Add(1))
				if _, err := put("raw/x/default/bench-node/"+k, ifNone); err != nil {
					return err
				}
				_, err := put(rawKey(k), ifNone)
				return err
			})
		})
		b.Run("impl=raw-same-requests", func(b *testing.B) {
			open(b)
			run(b, func(int) error {
				k := fmt.Sprint("new-", seq.Add(1))
				if err := list(rawKey(k) + "!!/"); err != nil {
					return err
				}
				for _, name := range []string{"raw/x/default/bench-node/" + k, rawKey(k)} {
					if _, err := put(name+"!!/1", ifNone); err != nil {
						return err
					}
					if err := list(name + "!!/"); err != nil {
						return err
					}
				}
				return nil
			})
		})
	})
	b.Run("op=renew", func(b *testing.B) {
		b.Run("impl=orbit", func(b *testing.B) {
			addrs := seed(b)
			run(b, func(i int) error {
				_, err := addrs.Renew(ctx, held[i].Reference, n1, held[i].Epoch, ttl)
				return err
			})
		})
		b.Run("impl=raw-if-generation-match", func(b *testing.B) {
			seed(b)
			run(b, func(i int) error {
				g, err := put(rawKey(fmt.Sprint("held-", i)), storage.Conditions{GenerationMatch: gens[i]})
				if err == nil {
					gens[i] = g
				}
				return err
			})
		})
		b.Run("impl=raw-same-requests", func(b *testing.B) {
			seed(b)
			run(b, func(i int) error {
				k := rawKey(fmt.Sprint("held-", i))
				if _, err := put(fmt.Sprintf("%s!!/%d", k, seq.Add(1)), ifNone); err != nil {
					return err
				}
				_, err := bucket().Object(k).Attrs(ctx)
				return err
			})
		})
	})
}

type devNull struct{}

func (devNull) Write(p []byte) (int, error) { return len(p), nil }
