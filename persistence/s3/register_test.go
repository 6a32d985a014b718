package s3_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/orbit-go/orbit/internal/testbackend/s3test"
	"github.com/orbit-go/orbit/persistence"
	"github.com/orbit-go/orbit/persistence/config"
	"github.com/orbit-go/orbit/persistence/driver"
	"github.com/orbit-go/orbit/persistence/s3"
)

func TestOptionsFromConfig(t *testing.T) {
	c := config.DefaultS3Config()
	c.Endpoint, c.EnableSSL, c.Bucket = "minio.internal:9000", false, "b"
	c.ServerSideEncryption, c.SSEKMSKeyID, c.TombstoneRetention, c.ConnectionTimeout = "aws:kms", "key-1", 120, 7
	o, err := s3.OptionsFromConfig(&c)
	if err != nil {
		t.Fatal(err)
	}
	if o.Endpoint != "http://minio.internal:9000" || !o.PathStyle || o.Bucket != "b" || o.Prefix != "orbit" ||
		o.TombstoneRetention != 2*time.Minute || o.ConnectTimeout != 7*time.Second || o.RequestTimeout != 7*time.Second ||
		o.ServerSideEncryption != "aws:kms" || o.SSEKMSKeyID != "key-1" || o.RetryCount != 3 {
		t.Fatalf("options = %+v", o)
	}
	c.Endpoint, c.VirtualHostedStyle = "", true
	if o, err = s3.OptionsFromConfig(&c); err != nil || o.Endpoint != "" || o.PathStyle {
		t.Fatalf("AWS: options = %+v, %v", o, err)
	}

	m := config.DefaultMinIOConfig()
	m.Endpoint, m.Secure, m.BucketName, m.AccessKey, m.SecretKey = "minio:9000", true, "mb", "ak", "sk-Secret"
	o, err = s3.OptionsFromMinIOConfig(&m)
	if err != nil || o.Endpoint != "https://minio:9000" || !o.PathStyle || o.Bucket != "mb" || o.Region != "us-east-1" ||
		o.AccessKeyID != "ak" || o.SecretAccessKey != "sk-Secret" || o.TombstoneRetention != 10*time.Minute {
		t.Fatalf("minio: options = %+v, %v", o, err)
	}
}

func TestOptionsFromConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*config.S3Config)
		want string
	}{
		{"no bucket", func(c *config.S3Config) { c.Bucket = "" }, "bucket"},
		{"half credentials", func(c *config.S3Config) { c.SecretAccessKey = "" }, "access_key_id"},
		{"bad sse", func(c *config.S3Config) { c.ServerSideEncryption = "rot13" }, "server_side_encryption"},
		{"kms key without kms", func(c *config.S3Config) { c.SSEKMSKeyID = "k" }, "sse_kms_key_id"},
		{"retention", func(c *config.S3Config) { c.TombstoneRetention = 0 }, "tombstone_retention"},
		{"scheme disagrees", func(c *config.S3Config) { c.Endpoint = "http://h:9000" }, "enable_ssl"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := config.DefaultS3Config()
			c.Bucket, c.AccessKeyID, c.SecretAccessKey = "b", "AK", "sk-Secret-3"
			tc.edit(&c)
			_, err := s3.OptionsFromConfig(&c)
			if !errors.Is(err, driver.ErrInvalidArgument) || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "sk-Secret-3") {
				t.Fatalf("error = %v, want one naming %s", err, tc.want)
			}
		})
	}
}

// Wrong credentials and a missing bucket fail to open with an error that
// names the endpoint and the bucket, never the secret; the provider opens
// through the registry with the S3 and the MinIO configuration.
func TestOpen(t *testing.T) {
	srv := s3test.Start(t) // versitygw checks signatures; gofakes3 does not
	ctx := context.Background()

	c := s3Config(srv)
	c.SecretAccessKey = "wrong-Secret-4"
	_, err := persistence.Open(ctx, "s", &c)
	if !errors.Is(err, driver.ErrUnavailable) || !strings.Contains(err.Error(), srv.Endpoint) ||
		!strings.Contains(err.Error(), srv.Bucket) || !strings.Contains(err.Error(), "access denied") ||
		strings.Contains(err.Error(), "wrong-Secret-4") || strings.Contains(err.Error(), srv.SecretKey) {
		t.Fatalf("open with a wrong secret = %v", err)
	}

	c = s3Config(srv)
	c.Bucket = "no-such-bucket"
	_, err = persistence.Open(ctx, "s", &c)
	if !errors.Is(err, driver.ErrUnavailable) || !strings.Contains(err.Error(), `"no-such-bucket"`) ||
		!strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("open of a missing bucket = %v", err)
	}

	c = s3Config(srv)
	p, err := persistence.Open(ctx, "s", &c)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx)
	if got := p.Capabilities().String(); got != "cache-stats,health" {
		t.Fatalf("capabilities = %s", got)
	}
	n := persistence.NodeID{Namespace: "default", Key: "n1"}
	ref := persistence.AddressableReference{Namespace: "default", Type: "T", Key: persistence.StringKey("k")}
	if _, err := p.Addressables().Place(ctx, ref, n, time.Minute); err != nil {
		t.Fatal(err)
	}

	m := config.DefaultMinIOConfig()
	m.Endpoint, m.BucketName, m.AccessKey, m.SecretKey, m.Prefix = strings.TrimPrefix(srv.Endpoint, "http://"), srv.Bucket, srv.AccessKey, srv.SecretKey, "orbit"
	pm, err := persistence.Open(ctx, "m", &m)
	if err != nil {
		t.Fatal(err)
	}
	defer pm.Close(ctx)
	if l, err := pm.Addressables().Get(ctx, ref); err != nil || l.Node != n {
		t.Fatalf("the MinIO provider does not see the S3 provider's lease in the same bucket and prefix: %+v, %v", l, err)
	}
}

// Health follows the server: Unhealthy (naming the endpoint and bucket)
// while it is down, Healthy again after it restarts, without reopening;
// operations fail with ErrUnavailable meanwhile and work again after.
func TestHealthRecovers(t *testing.T) {
	srv := s3test.Start(t)
	ctx := context.Background()
	c := s3Config(srv)
	c.ConnectionTimeout, c.RetryCount = 2, 0
	s := openConfig(t, c)
	if _, err := s.Put(ctx, "k", []byte("v"), driver.CreateOnly()); err != nil {
		t.Fatal(err)
	}
	srv.Kill(t)
	h := s.HealthCheck(ctx)
	if h.Status != driver.Unhealthy || !strings.Contains(h.Reason, srv.Endpoint) || !strings.Contains(h.Reason, srv.Bucket) {
		t.Fatalf("health while down = %+v", h)
	}
	if _, err := s.Get(ctx, "k"); !errors.Is(err, driver.ErrUnavailable) {
		t.Fatalf("get while down = %v, want ErrUnavailable", err)
	}
	srv.Restart(t)
	if h := s.HealthCheck(ctx); h.Status != driver.Healthy {
		t.Fatalf("health after restart = %+v", h)
	}
	if e, err := s.Get(ctx, "k"); err != nil || string(e.Value) != "v" {
		t.Fatalf("get after restart = %q, %v", e.Value, err)
	}
}

// Server-side encryption headers are sent with every write; both test
// servers accept SSE-S3 (neither encrypts: this checks the request shape).
func TestServerSideEncryption(t *testing.T) {
	s3test.Each(t, func(t *testing.T, srv *s3test.Server) {
		c := s3Config(srv)
		c.ServerSideEncryption = "AES256"
		s := openConfig(t, c)
		ctx := context.Background()
		v, err := s.Put(ctx, "k", []byte("v"), driver.CreateOnly())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Put(ctx, "k", []byte("w"), driver.MatchVersion(v)); err != nil {
			t.Fatal(err)
		}
		if e, err := s.Get(ctx, "k"); err != nil || string(e.Value) != "w" {
			t.Fatalf("get = %q, %v", e.Value, err)
		}
	})
}
