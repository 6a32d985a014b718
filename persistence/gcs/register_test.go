package gcs_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orbit-go/orbit/internal/testbackend"
	"github.com/orbit-go/orbit/internal/testbackend/gcstest"
	"github.com/orbit-go/orbit/persistence"
	"github.com/orbit-go/orbit/persistence/config"
	"github.com/orbit-go/orbit/persistence/driver"
	"github.com/orbit-go/orbit/persistence/gcs"
)

func TestOptionsFromConfig(t *testing.T) {
	c := config.DefaultGoogleCloudConfig()
	c.BucketName, c.ProjectID, c.CredentialsPath = "b", "p", "/etc/orbit/sa.json"
	c.TombstoneRetention, c.ConnectionTimeout, c.RetryCount = 120, 7, 5
	o, err := gcs.OptionsFromConfig(&c)
	if err != nil {
		t.Fatal(err)
	}
	if o.Bucket != "b" || o.CredentialsFile != "/etc/orbit/sa.json" || o.Anonymous || o.Endpoint != "" || o.Prefix != "orbit" ||
		o.TombstoneRetention != 2*time.Minute || o.ConnectTimeout != 7*time.Second || o.RequestTimeout != 7*time.Second || o.RetryCount != 5 {
		t.Fatalf("options = %+v", o)
	}
	// An endpoint without credentials_path: no authentication (an
	// emulator); with one: the file.
	c.Endpoint, c.CredentialsPath = "http://127.0.0.1:4443", ""
	if o, err = gcs.OptionsFromConfig(&c); err != nil || !o.Anonymous || o.Endpoint != c.Endpoint || o.CredentialsFile != "" {
		t.Fatalf("emulator: options = %+v, %v", o, err)
	}
	c.CredentialsPath = "/sa.json"
	if o, err = gcs.OptionsFromConfig(&c); err != nil || o.Anonymous || o.CredentialsFile != "/sa.json" {
		t.Fatalf("endpoint with credentials: options = %+v, %v", o, err)
	}
	// No endpoint, no file: Application Default Credentials.
	c.Endpoint, c.CredentialsPath = "", ""
	if o, err = gcs.OptionsFromConfig(&c); err != nil || o.Anonymous || o.CredentialsFile != "" {
		t.Fatalf("ADC: options = %+v, %v", o, err)
	}
}

func TestOptionsFromConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*config.GoogleCloudConfig)
		want string
	}{
		{"no bucket", func(c *config.GoogleCloudConfig) { c.BucketName = "" }, "bucket_name"},
		{"bad endpoint", func(c *config.GoogleCloudConfig) { c.Endpoint = "localhost:4443" }, "endpoint"},
		{"retention", func(c *config.GoogleCloudConfig) { c.TombstoneRetention = 0 }, "tombstone_retention"},
		{"retries", func(c *config.GoogleCloudConfig) { c.RetryCount = -1 }, "retry_count"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := config.DefaultGoogleCloudConfig()
			c.BucketName = "b"
			tc.edit(&c)
			if _, err := gcs.OptionsFromConfig(&c); !errors.Is(err, driver.ErrInvalidArgument) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want one naming %s", err, tc.want)
			}
		})
	}
}

// A missing bucket, an unreachable endpoint and a missing credentials file
// fail to open with errors naming what is wrong; the provider opens
// through the registry.
func TestOpen(t *testing.T) {
	srv := gcstest.Start(t)
	ctx := context.Background()

	c := gcsConfig(srv)
	c.BucketName = "no-such-bucket"
	_, err := persistence.Open(ctx, "g", &c)
	if !errors.Is(err, driver.ErrUnavailable) || !strings.Contains(err.Error(), `"no-such-bucket"`) ||
		!strings.Contains(err.Error(), srv.Endpoint) || !strings.Contains(err.Error(), "the bucket does not exist") {
		t.Fatalf("open of a missing bucket = %v", err)
	}

	c = gcsConfig(srv)
	c.Endpoint = fmt.Sprintf("http://127.0.0.1:%d", testbackend.FreePorts(t, 1)[0])
	c.ConnectionTimeout, c.RetryCount = 2, 0
	_, err = persistence.Open(ctx, "g", &c)
	if !errors.Is(err, driver.ErrUnavailable) || !strings.Contains(err.Error(), c.Endpoint) || !strings.Contains(err.Error(), srv.Bucket) {
		t.Fatalf("open of an unreachable endpoint = %v", err)
	}

	c = gcsConfig(srv)
	c.CredentialsPath = filepath.Join(t.TempDir(), "missing.json")
	_, err = persistence.Open(ctx, "g", &c)
	if !errors.Is(err, driver.ErrInvalidArgument) || !strings.Contains(err.Error(), c.CredentialsPath) || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("open with a missing credentials file = %v", err)
	}

	c.CredentialsPath = filepath.Join(t.TempDir(), "client.json")
	if err := os.WriteFile(c.CredentialsPath, []byte(`{"type":"gdch_service_account","private_key":"pk-Secret-5"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = persistence.Open(ctx, "g", &c)
	if !errors.Is(err, driver.ErrInvalidArgument) || !strings.Contains(err.Error(), c.CredentialsPath) ||
		!strings.Contains(err.Error(), "not supported") || strings.Contains(err.Error(), "pk-Secret-5") {
		t.Fatalf("open with an unsupported credentials file = %v", err)
	}

	c = gcsConfig(srv)
	p, err := persistence.Open(ctx, "g", &c)
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
	if l, err := p.Addressables().Get(ctx, ref); err != nil || l.Node != n {
		t.Fatalf("get = %+v, %v", l, err)
	}
}

// iam stands in for Google's OAuth token endpoint and for the IAM check of
// the storage API, in front of the real emulator: a service account key
// is exchanged for a token named after its client_email, and the proxy
// passes requests with the token of "writer@" to fake-gcs-server, answers
// 403 to "reader@" (no permission on the bucket) and 401 without a token.
// "revoked@" gets no token at all.
type iam struct {
	tokens   *httptest.Server
	proxy    *httptest.Server
	bearers  atomic.Int64 // requests that reached the emulator with a token
	anonymus atomic.Int64 // requests without one
}

func startIAM(t *testing.T, srv *gcstest.Server) *iam {
	g := &iam{}
	g.tokens = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		parts := strings.Split(r.PostForm.Get("assertion"), ".")
		var claims struct {
			Iss string `json:"iss"`
		}
		if len(parts) == 3 {
			if raw, err := base64.RawURLEncoding.DecodeString(parts[1]); err == nil {
				_ = json.Unmarshal(raw, &claims)
			}
		}
		w.Header().Set("Content-Type", "application/json")
		if user, _, _ := strings.Cut(claims.Iss, "@"); user == "writer" || user == "reader" {
			fmt.Fprintf(w, `{"access_token":"tok-%s-Secret-6","token_type":"Bearer","expires_in":3600}`, user)
			return
		}
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"error":"invalid_grant","error_description":"Invalid JWT Signature."}`)
	}))
	t.Cleanup(g.tokens.Close)
	target, _ := url.Parse(srv.Endpoint)
	rp := httputil.NewSingleHostReverseProxy(target)
	g.proxy = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Header.Get("Authorization") {
		case "Bearer tok-writer-Secret-6":
			g.bearers.Add(1)
			r.Host = target.Host // the emulator's XML routes match on its host
			rp.ServeHTTP(w, r)
		case "Bearer tok-reader-Secret-6":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `{"error":{"code":403,"message":"reader@p.iam.gserviceaccount.com does not have storage.buckets.get access to the Google Cloud Storage bucket.","errors":[{"reason":"forbidden"}]}}`)
		default:
			g.anonymus.Add(1)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"error":{"code":401,"message":"Anonymous caller does not have storage.buckets.get access.","errors":[{"reason":"required"}]}}`)
		}
	}))
	t.Cleanup(g.proxy.Close)
	return g
}

// serviceAccount writes a service account key file for user@ whose token
// endpoint is the iam stand-in, and returns its path and private key PEM.
func (g *iam) serviceAccount(t *testing.T, user string) (string, string) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pemKey := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: must(x509.MarshalPKCS8PrivateKey(key))}))
	f, _ := json.Marshal(map[string]string{
		"type": "service_account", "project_id": "p", "private_key_id": "kid-1", "private_key": pemKey,
		"client_email": user + "@p.iam.gserviceaccount.com", "client_id": "1", "token_uri": g.tokens.URL + "/token",
	})
	path := filepath.Join(t.TempDir(), user+".json")
	if err := os.WriteFile(path, f, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, pemKey
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// A service account key file authenticates every request (JSON API,
// uploads and XML reads); a key without permission, a revoked key and no
// credentials fail to open with ErrUnavailable naming the endpoint and
// the bucket, never a key or a token.
func TestCredentialsFile(t *testing.T) {
	srv := gcstest.Start(t)
	g := startIAM(t, srv)
	ctx := context.Background()
	secrets := []string{"Secret-6", "PRIVATE KEY"}
	clean := func(err error) bool {
		for _, s := range secrets {
			if strings.Contains(err.Error(), s) {
				return false
			}
		}
		return true
	}

	c := gcsConfig(srv)
	c.Endpoint, c.RetryCount = g.proxy.URL, 0
	c.CredentialsPath, _ = g.serviceAccount(t, "writer")
	p, err := persistence.Open(ctx, "g", &c)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx)
	n := persistence.NodeID{Namespace: "default", Key: "n1"}
	ref := persistence.AddressableReference{Namespace: "default", Type: "T", Key: persistence.StringKey("k")}
	if _, err := p.Addressables().Place(ctx, ref, n, time.Minute); err != nil {
		t.Fatal(err)
	}
	if l, err := p.Addressables().Get(ctx, ref); err != nil || l.Node != n {
		t.Fatalf("get = %+v, %v", l, err)
	}
	if g.bearers.Load() < 4 || g.anonymus.Load() != 0 {
		t.Fatalf("requests with a token %d, without %d", g.bearers.Load(), g.anonymus.Load())
	}

	for _, tc := range []struct{ user, want string }{
		{"reader", "access denied"},
		{"revoked", "could not obtain an access token"},
	} {
		c.CredentialsPath, _ = g.serviceAccount(t, tc.user)
		_, err := persistence.Open(ctx, "g", &c)
		if !errors.Is(err, driver.ErrUnavailable) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), g.proxy.URL) ||
			!strings.Contains(err.Error(), srv.Bucket) || !clean(err) {
			t.Fatalf("open as %s = %v", tc.user, err)
		}
		t.Logf("open as %s: %v", tc.user, err)
	}

	c.CredentialsPath = "" // an endpoint without a file: no credentials
	_, err = persistence.Open(ctx, "g", &c)
	if !errors.Is(err, driver.ErrUnavailable) || !strings.Contains(err.Error(), "access denied") || !clean(err) {
		t.Fatalf("open without credentials = %v", err)
	}
}

// Health follows the server: Unhealthy (naming the endpoint and bucket)
// while it is down, Healthy again after it restarts on the same port,
// without reopening; operations fail with ErrUnavailable meanwhile and
// work again after.
func TestHealthRecovers(t *testing.T) {
	srv := gcstest.Start(t)
	ctx := context.Background()
	c := gcsConfig(srv)
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
	t.Logf("health while down: %s", h.Reason)
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

// Without an endpoint or a credentials file, Application Default
// Credentials are required; their absence is a clear error.
func TestNoDefaultCredentials(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "adc.json")
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", missing)
	_, err := gcs.Open(context.Background(), gcs.Options{Bucket: "b"})
	if !errors.Is(err, driver.ErrInvalidArgument) || !strings.Contains(err.Error(), "Application Default Credentials") ||
		!strings.Contains(err.Error(), missing) || !strings.Contains(err.Error(), `gcs bucket "b" at https://storage.googleapis.com`) {
		t.Fatalf("open without credentials = %v", err)
	}
}

// STORAGE_EMULATOR_HOST, which the storage client reads, does not redirect
// the provider: the endpoint is the configuration's.
func TestIgnoresEmulatorHostVariable(t *testing.T) {
	srv := gcstest.Start(t)
	t.Setenv("STORAGE_EMULATOR_HOST", fmt.Sprintf("127.0.0.1:%d", testbackend.FreePorts(t, 1)[0]))
	s := openConfig(t, gcsConfig(srv))
	if _, err := s.Put(context.Background(), "k", []byte("v"), driver.CreateOnly()); err != nil {
		t.Fatal(err)
	}
}
