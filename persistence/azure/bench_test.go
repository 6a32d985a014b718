package azure_test

import (
	"bytes"
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/orbit-go/orbit/internal/benchutil"
	"github.com/orbit-go/orbit/internal/testbackend/azuritetest"
	"github.com/orbit-go/orbit/persistence"
)

// BenchmarkAzure compares Orbit's Azure provider, through the persistence
// API, with the raw azblob client on the same Azurite in the same run, 16
// goroutines (benchutil.RunParallel), reporting ops/s.
//
//	op=get    orbit: AddressableDirectory.Get = a listing of the lease's
//	          chain (its body is cached: objects never change);
//	          raw-get: one Get Blob (a naive one-blob-per-lease layout);
//	          raw-same-requests: List Blobs of the chain + Get Blob
//	          (orbit's requests on a cache miss).
//	op=place  orbit: Place of a new addressable = listing (absent) + index
//	          creation (Put Blob If-None-Match + listing) + lease creation
//	          (Put Blob If-None-Match + listing); raw-2-puts: the fewest
//	          requests of an atomic place with a node index (two
//	          create-only uploads, no check of collected names);
//	          raw-same-requests: orbit's five requests.
//	op=renew  orbit: Renew of a held lease (version cached) = Put Blob
//	          If-None-Match of the successor + Get Blob Properties of the
//	          predecessor; raw-if-match: one Put Blob If-Match (what the
//	          protocol avoids: not atomic on every object store);
//	          raw-same-requests: Put Blob + Get Blob Properties.
func BenchmarkAzure(b *testing.B) {
	ctx := context.Background()
	var seq atomic.Int64
	run := func(b *testing.B, fn func(i int) error) { benchutil.RunParallel(b, benchKeys, fn) }
	// Every run of every variant gets an Azurite of its own: Azurite's
	// in-memory store scans every blob of the account for a listing and
	// for most lookups by name, so a server that kept the blobs of an
	// earlier run would slow the next one down.
	b.Run("op=get", func(b *testing.B) {
		b.Run("impl=orbit", func(b *testing.B) {
			f := newFixture(b)
			run(b, func(i int) error { _, err := f.addrs.Get(ctx, f.held[i].Reference); return err })
		})
		b.Run("impl=raw-get", func(b *testing.B) {
			f := newFixture(b)
			run(b, func(i int) error { return f.get(rawKey(fmt.Sprint("held-", i))) })
		})
		b.Run("impl=raw-same-requests", func(b *testing.B) {
			f := newFixture(b)
			run(b, func(i int) error {
				k := rawKey(fmt.Sprint("held-", i))
				if err := f.list(k + "!!/"); err != nil {
					return err
				}
				return f.get(k)
			})
		})
	})
	b.Run("op=place", func(b *testing.B) {
		b.Run("impl=orbit", func(b *testing.B) {
			f := newFixture(b)
			run(b, func(int) error {
				_, err := f.addrs.Place(ctx, benchRef(fmt.Sprint("new-", seq.Add(1))), benchNode, benchTTL)
				return err
			})
		})
		b.Run("impl=raw-2-puts", func(b *testing.B) {
			f := newFixture(b)
			run(b, func(int) error {
				k := fmt.Sprint("new-", seq.Add(1))
				if _, err := f.put("raw/x/default/bench-node/"+k, f.ifNone); err != nil {
					return err
				}
				_, err := f.put(rawKey(k), f.ifNone)
				return err
			})
		})
		b.Run("impl=raw-same-requests", func(b *testing.B) {
			f := newFixture(b)
			run(b, func(int) error {
				k := fmt.Sprint("new-", seq.Add(1))
				if err := f.list(rawKey(k) + "!!/"); err != nil {
					return err
				}
				for _, name := range []string{"raw/x/default/bench-node/" + k, rawKey(k)} {
					if _, err := f.put(name+"!!/1", f.ifNone); err != nil {
						return err
					}
					if err := f.list(name + "!!/"); err != nil {
						return err
					}
				}
				return nil
			})
		})
	})
	b.Run("op=renew", func(b *testing.B) {
		b.Run("impl=orbit", func(b *testing.B) {
			f := newFixture(b)
			run(b, func(i int) error {
				_, err := f.addrs.Renew(ctx, f.held[i].Reference, benchNode, f.held[i].Epoch, benchTTL)
				return err
			})
		})
		b.Run("impl=raw-if-match", func(b *testing.B) {
			f := newFixture(b)
			run(b, func(i int) error {
				e, err := f.put(rawKey(fmt.Sprint("held-", i)), &blob.ModifiedAccessConditions{IfMatch: &f.etags[i]})
				if err == nil {
					f.etags[i] = e
				}
				return err
			})
		})
		b.Run("impl=raw-same-requests", func(b *testing.B) {
			f := newFixture(b)
			run(b, func(i int) error {
				k := rawKey(fmt.Sprint("held-", i))
				if _, err := f.put(fmt.Sprintf("%s!!/%d", k, seq.Add(1)), f.ifNone); err != nil {
					return err
				}
				_, err := f.ctr.NewBlobClient(k).GetProperties(ctx, nil)
				return err
			})
		})
	})
}

const (
	benchKeys = 256
	benchTTL  = 10 * time.Minute
)

var benchNode = persistence.NodeID{Namespace: "default", Key: "bench-node"}

func benchRef(k string) persistence.AddressableReference {
	return persistence.AddressableReference{Namespace: "default", Type: "Greeter", Key: persistence.StringKey(k)}
}

// rawKey is the raw client's blob of lease k (a naive layout).
func rawKey(k string) string { return "raw/a/default/Greeter/s" + k }

// fixture is one benchmark run's world: a new Azurite, the provider on it
// with benchKeys held leases, and the raw client's container holding one
// blob per held lease.
type fixture struct {
	addrs  persistence.AddressableDirectory
	held   []persistence.AddressableLease
	ctr    *container.Client
	etags  []azcore.ETag // index i is used by one goroutine at a time
	body   []byte
	ifNone *blob.ModifiedAccessConditions
}

func newFixture(b *testing.B) *fixture {
	ctx := context.Background()
	srv := azuritetest.Start(b)
	c := azureConfig(srv)
	p, err := persistence.Open(ctx, "azure", &c)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Close(ctx) })
	star := azcore.ETagAny
	f := &fixture{
		addrs:  p.Addressables(),
		held:   make([]persistence.AddressableLease, benchKeys),
		ctr:    srv.Client(b).ServiceClient().NewContainerClient(srv.Container),
		etags:  make([]azcore.ETag, benchKeys),
		body:   bytes.Repeat([]byte("x"), 96), // about an encoded lease
		ifNone: &blob.ModifiedAccessConditions{IfNoneMatch: &star},
	}
	for i := range f.held {
		k := fmt.Sprint("held-", i)
		if f.held[i], err = f.addrs.Place(ctx, benchRef(k), benchNode, benchTTL); err != nil {
			b.Fatal(err)
		}
		if f.etags[i], err = f.put(rawKey(k), f.ifNone); err != nil {
			b.Fatal(err)
		}
	}
	return f
}

// put uploads the body to name under cond.
func (f *fixture) put(name string, cond *blob.ModifiedAccessConditions) (azcore.ETag, error) {
	r, err := f.ctr.NewBlockBlobClient(name).Upload(context.Background(), nopCloser{bytes.NewReader(f.body)}, &blockblob.UploadOptions{
		AccessConditions: &blob.AccessConditions{ModifiedAccessConditions: cond}})
	if err != nil {
		return "", err
	}
	return *r.ETag, nil
}

// list lists a prefix as the provider lists a chain.
func (f *fixture) list(prefix string) error {
	thousand := int32(1000)
	_, err := f.ctr.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{Prefix: &prefix, MaxResults: &thousand}).NextPage(context.Background())
	return err
}

// get reads a blob.
func (f *fixture) get(name string) error {
	r, err := f.ctr.NewBlobClient(name).DownloadStream(context.Background(), nil)
	if err == nil {
		r.Body.Close()
	}
	return err
}

// nopCloser is the io.ReadSeekCloser of an upload's body.
type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }
