package s3test_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/orbit-go/orbit/internal/testbackend/s3test"
)

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// wantPreconditionFailed checks that err is the 412 PreconditionFailed of
// a failed conditional request, as smithy.APIError (the code) and
// smithyhttp.ResponseError (the status).
func wantPreconditionFailed(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: succeeded, want 412 PreconditionFailed", what)
	}
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "PreconditionFailed" {
		t.Fatalf("%s: %v (%T), want APIError code PreconditionFailed", what, err, err)
	}
	var resp *smithyhttp.ResponseError
	if !errors.As(err, &resp) || resp.HTTPStatusCode() != http.StatusPreconditionFailed {
		t.Fatalf("%s: %v, want HTTP 412", what, err)
	}
	t.Logf("%s: code %q, status %d, APIError %T, message %q", what, api.ErrorCode(), resp.HTTPStatusCode(), api, api.ErrorMessage())
}

// quoted reports whether an ETag is a double-quoted value.
func quoted(etag string) bool {
	return len(etag) >= 2 && etag[0] == '"' && etag[len(etag)-1] == '"'
}

// TestS3 runs the operations a storage provider relies on against both
// servers, and logs what each returns.
func TestS3(t *testing.T) {
	s3test.Each(t, func(t *testing.T, s *s3test.Server) {
		c := s.Client(t)
		ctx := ctx(t)
		b := aws.String(s.Bucket)
		if len(s.Bucket) < 3 || s.Bucket != strings.ToLower(s.Bucket) || s.Region != "us-east-1" || s.Kind != t.Name()[strings.LastIndex(t.Name(), "/")+1:] {
			t.Fatalf("server %+v", s)
		}

		// Create only: If-None-Match "*" wins once.
		key := "a/b!!0000000000000001-0000000000000000"
		put, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String(key), Body: strings.NewReader("v1"), IfNoneMatch: aws.String("*")})
		if err != nil {
			t.Fatalf("first create-only PutObject of %q: %v", key, err)
		}
		etag := aws.ToString(put.ETag)
		t.Logf("PutObject ETag %s (quoted %v)", etag, quoted(etag))
		if !quoted(etag) {
			t.Errorf("PutObject ETag %s is not quoted", etag)
		}
		_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String(key), Body: strings.NewReader("v2"), IfNoneMatch: aws.String("*")})
		wantPreconditionFailed(t, "second create-only PutObject", err)

		// Compare and swap: If-Match.
		_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String(key), Body: strings.NewReader("v2"), IfMatch: aws.String(`"00000000000000000000000000000000"`)})
		wantPreconditionFailed(t, "PutObject with a stale If-Match", err)
		put2, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String(key), Body: strings.NewReader("v2"), IfMatch: put.ETag})
		if err != nil {
			t.Fatalf("PutObject with the current If-Match: %v", err)
		}
		etag = aws.ToString(put2.ETag)

		head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: b, Key: aws.String(key)})
		if err != nil {
			t.Fatalf("HeadObject: %v", err)
		}
		t.Logf("HeadObject ETag %s", aws.ToString(head.ETag))
		if aws.ToString(head.ETag) != etag {
			t.Errorf("HeadObject ETag %s, PutObject's %s", aws.ToString(head.ETag), etag)
		}
		get, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String(key)})
		if err != nil {
			t.Fatalf("GetObject: %v", err)
		}
		body, err := io.ReadAll(get.Body)
		_ = get.Body.Close()
		if err != nil || string(body) != "v2" {
			t.Fatalf("GetObject body %q, %v; want v2", body, err)
		}
		if aws.ToString(get.ETag) != etag {
			t.Errorf("GetObject ETag %s, PutObject's %s", aws.ToString(get.ETag), etag)
		}
		_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("missing")})
		var nsk interface{ ErrorCode() string }
		if !errors.As(err, &nsk) || nsk.ErrorCode() != "NoSuchKey" {
			t.Errorf("GetObject of a missing key: %v (%T), want NoSuchKey", err, err)
		}

		// Listing, with StartAfter.
		for _, k := range []string{"a/b!!0000000000000002-0000000000000000", "a/c", "b"} {
			if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String(k), Body: strings.NewReader(k)}); err != nil {
				t.Fatalf("PutObject %q: %v", k, err)
			}
		}
		list := func(in *s3.ListObjectsV2Input) (keys []string) {
			t.Helper()
			in.Bucket = b
			out, err := c.ListObjectsV2(ctx, in)
			if err != nil {
				t.Fatalf("ListObjectsV2: %v", err)
			}
			for _, o := range out.Contents {
				keys = append(keys, aws.ToString(o.Key))
				if aws.ToString(o.Key) == key {
					t.Logf("ListObjectsV2 ETag %s", aws.ToString(o.ETag))
					if aws.ToString(o.ETag) != etag {
						t.Errorf("ListObjectsV2 ETag %s, PutObject's %s", aws.ToString(o.ETag), etag)
					}
				}
			}
			return keys
		}
		all := "a/b!!0000000000000001-0000000000000000 a/b!!0000000000000002-0000000000000000 a/c b"
		if got := strings.Join(list(&s3.ListObjectsV2Input{}), " "); got != all {
			t.Errorf("ListObjectsV2: %s, want %s", got, all)
		}
		if got := strings.Join(list(&s3.ListObjectsV2Input{Prefix: aws.String("a/b!!"), StartAfter: aws.String(key)}), " "); got != "a/b!!0000000000000002-0000000000000000" {
			t.Errorf("ListObjectsV2 with StartAfter: %s", got)
		}
		if got := strings.Join(list(&s3.ListObjectsV2Input{StartAfter: aws.String("a/b!!0000000000000002-0000000000000000")}), " "); got != "a/c b" {
			t.Errorf("ListObjectsV2 with StartAfter: %s, want a/c b", got)
		}
		if got := strings.Join(list(&s3.ListObjectsV2Input{StartAfter: aws.String("a/bz")}), " "); got != "a/c b" {
			t.Errorf("ListObjectsV2 with StartAfter a/bz (no such key): %s, want a/c b", got)
		}

		// Delete.
		if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: b, Key: aws.String(key)}); err != nil {
			t.Fatalf("DeleteObject: %v", err)
		}
		if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: b, Key: aws.String(key)}); err == nil {
			t.Errorf("HeadObject after DeleteObject succeeded")
		}
		if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: b, Key: aws.String(key)}); err != nil {
			t.Errorf("DeleteObject of a missing key: %v, want success", err)
		}

		// Another bucket is empty and separate.
		other := s.NewBucket(t)
		if other == s.Bucket {
			t.Fatalf("NewBucket returned the same name %s", other)
		}
		out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(other)})
		if err != nil || len(out.Contents) != 0 {
			t.Fatalf("ListObjectsV2 of the new bucket: %v, %d objects", err, len(out.Contents))
		}
	})
}

// TestRestart stops, kills and restarts each server and finds the data
// again.
func TestRestart(t *testing.T) {
	s3test.Each(t, func(t *testing.T, s *s3test.Server) {
		c := s.Client(t)
		ctx := ctx(t)
		put := func(k string) {
			t.Helper()
			if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String(k), Body: strings.NewReader(k)}); err != nil {
				t.Fatalf("PutObject %s: %v", k, err)
			}
		}
		put("before-stop")
		s.Stop(t)
		if s.Running() {
			t.Fatal("Running after Stop")
		}
		_, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String("before-stop")})
		if err == nil {
			t.Fatal("HeadObject succeeded on a stopped server")
		}
		t.Logf("request to a stopped server: %v", err)
		s.Restart(t)
		put("before-kill")
		s.Kill(t)
		s.Restart(t)
		if !s.Running() {
			t.Fatal("not Running after Restart")
		}
		for _, k := range []string{"before-stop", "before-kill"} {
			if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String(k)}); err != nil {
				t.Errorf("HeadObject %s after restart: %v", k, err)
			}
		}
	})
}

// TestDifferences pins the documented differences between the servers, so
// that an upgrade that changes them is noticed.
func TestDifferences(t *testing.T) {
	s3test.Each(t, func(t *testing.T, s *s3test.Server) {
		c := s.Client(t)
		ctx := ctx(t)
		b := aws.String(s.Bucket)
		code := func(err error) string {
			var api smithy.APIError
			if errors.As(err, &api) {
				return api.ErrorCode()
			}
			if err != nil {
				return err.Error()
			}
			return "ok"
		}
		fake := s.Kind == s3test.KindFake
		pick := func(fakeWant, vgwWant string) string {
			if fake {
				return fakeWant
			}
			return vgwWant
		}

		_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("missing"), Body: strings.NewReader("x"), IfMatch: aws.String(`"00000000000000000000000000000000"`)})
		if got, want := code(err), pick("PreconditionFailed", "NoSuchKey"); got != want {
			t.Errorf("PutObject If-Match on a missing key: %s, want %s", got, want)
		}

		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("d"), Body: strings.NewReader("x")}); err != nil {
			t.Fatal(err)
		}
		_, err = c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: b, Key: aws.String("d"), IfMatch: aws.String(`"00000000000000000000000000000000"`)})
		if got, want := code(err), pick("ok", "PreconditionFailed"); got != want {
			t.Errorf("DeleteObject with a stale If-Match: %s, want %s", got, want)
		}

		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("p/q"), Body: strings.NewReader("x")}); err != nil {
			t.Fatal(err)
		}
		_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("p/q/r"), Body: strings.NewReader("x")})
		if got, want := code(err), pick("ok", "ObjectParentIsFile"); got != want {
			t.Errorf("PutObject p/q/r beside p/q: %s, want %s", got, want)
		}
		_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("p"), Body: strings.NewReader("x")})
		if got, want := code(err), pick("ok", "ExistingObjectIsDirectory"); got != want {
			t.Errorf("PutObject p beside p/q: %s, want %s", got, want)
		}
	})
}
