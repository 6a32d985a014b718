package s3_test

import (
	"bytes"
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/orbit-go/orbit/internal/benchutil"
	"github.com/orbit-go/orbit/internal/testbackend/s3test"
	"github.com/orbit-go/orbit/persistence"
)

// BenchmarkS3 compares Orbit's S3 provider, through the persistence API,
// with the raw aws-sdk-go-v2 client on the same server in the same run,
// 16 goroutines (benchutil.RunParallel), reporting ops/s.
//
//	op=get    orbit: AddressableDirectory.Get = a listing of the lease's
//	          chain (its body is cached: objects never change);
//	          raw-get: one GetObject (a naive one-object-per-lease layout);
//	          raw-same-requests: ListObjectsV2 of the chain + GetObject
//	          (orbit's requests on a cache miss).
//	op=place  orbit: Place of a new addressable = listing (absent) + index
//	          creation (PUT If-None-Match + listing) + lease creation (PUT
//	          If-None-Match + listing); raw-2-puts: the fewest requests of an
//	          atomic place with a node index (two create-only PUTs, no check
//	          of collected names); raw-same-requests: orbit's five requests.
//	op=renew  orbit: Renew of a held lease (version cached) = PUT
//	          If-None-Match of the successor + HEAD of the predecessor;
//	          raw-if-match: one PUT If-Match (what the protocol avoids: not
//	          atomic on every server); raw-same-requests: PUT + HEAD.
func BenchmarkS3(b *testing.B) {
	b.Run("server=versitygw", func(b *testing.B) { benchS3(b, s3test.Start(b)) })
	b.Run("server=gofakes3", func(b *testing.B) { benchS3(b, s3test.StartFake(b)) })
}

func benchS3(b *testing.B, srv *s3test.Server) {
	ctx := context.Background()
	c := s3Config(srv)
	p, err := persistence.Open(ctx, "s3", &c)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Close(ctx) })
	addrs := p.Addressables()
	// The raw client with the provider's request settings: checksums only
	// where the API requires them (the SDK's default adds a CRC32 trailer
	// to every PUT).
	raw := awss3.New(srv.Client(b).Options(), func(o *awss3.Options) {
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	})
	const keys = 256
	const ttl = 10 * time.Minute
	n1 := persistence.NodeID{Namespace: "default", Key: "bench-node"}
	ref := func(k string) persistence.AddressableReference {
		return persistence.AddressableReference{Namespace: "default", Type: "Greeter", Key: persistence.StringKey(k)}
	}
	body := bytes.Repeat([]byte("x"), 96) // about an encoded lease
	bucketName := srv.Bucket
	bucket := &bucketName
	rawKey := func(k string) string { return "raw/a/default/Greeter/s" + k }
	put := func(key string, cond func(*awss3.PutObjectInput)) (string, error) {
		in := &awss3.PutObjectInput{Bucket: bucket, Key: &key, Body: bytes.NewReader(body)}
		cond(in)
		out, err := raw.PutObject(ctx, in)
		if err != nil {
			return "", err
		}
		return aws.ToString(out.ETag), nil
	}
	ifNone := func(in *awss3.PutObjectInput) { in.IfNoneMatch = aws.String("*") }
	list := func(prefix string) error { // as the provider lists a chain
		_, err := raw.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: bucket, Prefix: &prefix, StartAfter: &prefix, MaxKeys: aws.Int32(1000)})
		return err
	}

	held := make([]persistence.AddressableLease, keys)
	etags := make([]string, keys) // index i is used by one goroutine at a time
	for i := range held {
		k := fmt.Sprint("held-", i)
		if held[i], err = addrs.Place(ctx, ref(k), n1, ttl); err != nil {
			b.Fatal(err)
		}
		if etags[i], err = put(rawKey(k), ifNone); err != nil {
			b.Fatal(err)
		}
	}
	var seq atomic.Int64
	run := func(b *testing.B, fn func(i int) error) { benchutil.RunParallel(b, keys, fn) }

	b.Run("op=get", func(b *testing.B) {
		b.Run("impl=orbit", func(b *testing.B) {
			run(b, func(i int) error { _, err := addrs.Get(ctx, held[i].Reference); return err })
		})
		b.Run("impl=raw-get", func(b *testing.B) {
			run(b, func(i int) error {
				k := rawKey(fmt.Sprint("held-", i))
				out, err := raw.GetObject(ctx, &awss3.GetObjectInput{Bucket: bucket, Key: &k})
				if err == nil {
					out.Body.Close()
				}
				return err
			})
		})
		b.Run("impl=raw-same-requests", func(b *testing.B) {
			run(b, func(i int) error {
				k := rawKey(fmt.Sprint("held-", i))
				if err := list(k + "!!/"); err != nil {
					return err
				}
				out, err := raw.GetObject(ctx, &awss3.GetObjectInput{Bucket: bucket, Key: &k})
				if err == nil {
					out.Body.Close()
				}
				return err
			})
		})
	})
	// Each place benchmark starts on an empty bucket of its own (listing
	// costs grow with the bucket on gofakes3).
	b.Run("op=place", func(b *testing.B) {
		b.Run("impl=orbit", func(b *testing.B) {
			c := s3Config(srv)
			c.Bucket = srv.NewBucket(b)
			p, err := persistence.Open(ctx, "s3-place", &c)
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close(ctx)
			run(b, func(int) error {
				_, err := p.Addressables().Place(ctx, ref(fmt.Sprint("new-", seq.Add(1))), n1, ttl)
				return err
			})
		})
		b.Run("impl=raw-2-puts", func(b *testing.B) {
			*bucket = srv.NewBucket(b)
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
			*bucket = srv.NewBucket(b)
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
	*bucket = srv.Bucket // the held keys
	b.Run("op=renew", func(b *testing.B) {
		b.Run("impl=orbit", func(b *testing.B) {
			run(b, func(i int) error {
				_, err := addrs.Renew(ctx, held[i].Reference, n1, held[i].Epoch, ttl)
				return err
			})
		})
		b.Run("impl=raw-if-match", func(b *testing.B) {
			run(b, func(i int) error {
				e, err := put(rawKey(fmt.Sprint("held-", i)), func(in *awss3.PutObjectInput) { in.IfMatch = aws.String(etags[i]) })
				if err == nil {
					etags[i] = e
				}
				return err
			})
		})
		b.Run("impl=raw-same-requests", func(b *testing.B) {
			run(b, func(i int) error {
				k := rawKey(fmt.Sprint("held-", i))
				if _, err := put(fmt.Sprintf("%s!!/%d", k, seq.Add(1)), ifNone); err != nil {
					return err
				}
				_, err := raw.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: bucket, Key: &k})
				return err
			})
		})
	})
}
