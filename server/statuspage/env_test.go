package statuspage_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	orbitv1 "github.com/orbit-go/orbit/api/orbit/v1"
	"github.com/orbit-go/orbit/clock"
	"github.com/orbit-go/orbit/persistence"
	"github.com/orbit-go/orbit/persistence/config"
	_ "github.com/orbit-go/orbit/persistence/memory"
	_ "github.com/orbit-go/orbit/persistence/redis"
	"github.com/orbit-go/orbit/server"
	"github.com/orbit-go/orbit/server/audit"
	"github.com/orbit-go/orbit/server/auth"
	"github.com/orbit-go/orbit/server/statuspage"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

var bg = context.Background()

// Tokens of the auth tests (their digests are configured, not them).
const (
	opsToken    = "ops-token-0123456789abcdefghijklmnopqrstuvw"
	readerToken = "reader-token-0123456789abcdefghijklmnopqrst"
)

// envOptions configure a test server.
type envOptions struct {
	// providers is TOML of more [providers.NAME] tables, opened with the
	// default memory provider (the page shows them; the server serves on
	// memory).
	providers string
	auth      bool
	audit     audit.Auditor
}

// env is an in-process server with its admin listener on a loopback port,
// on a manual clock (leases never expire on their own), and gRPC clients.
type env struct {
	srv   *server.Server
	base  string // the admin listener's URL, ending in "/"
	clock *clock.Manual
	nodes orbitv1.NodeServiceClient
	addrs orbitv1.AddressableServiceClient
	// header is the Authorization header value of the page's requests
	// ("" when auth is off).
	header string
}

// bearer sends a token with every call over plaintext (loopback only).
type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}
func (bearer) RequireTransportSecurity() bool { return false }

func startEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	toml := `
[defaults]
addressable = "memory"
cluster = "memory"

[providers.memory]
type = "Memory"
` + o.providers
	cfg, err := config.Parse([]byte(toml), config.FormatTOML, filepath.Join(t.TempDir(), "orbit.toml"))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{clock: clock.NewManual(time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC))}
	reg, err := persistence.OpenRegistry(bg, cfg, persistence.WithClock(e.clock))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Close(bg) })
	timings := server.DefaultTimings()
	timings.HealthInterval = 100 * time.Millisecond
	b := server.NewBuilder().WithListenAddress("127.0.0.1:0").WithAdminAddress("127.0.0.1:0").
		WithRegistry(reg).WithClock(e.clock).WithTimings(timings).WithBuildInfo(server.BuildInfo{Version: "test"}).
		WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
	if o.auth {
		b = b.WithAuth(&config.AuthConfig{Mode: "on",
			Tokens: []string{auth.DigestLine("ops", opsToken), auth.DigestLine("scraper", readerToken)},
			Grants: []string{"ops=admin@*", "token:scraper=reader@default"}})
		e.header = "Bearer " + readerToken
	}
	if o.audit != nil {
		b = b.WithAudit(o.audit)
	}
	e.srv, err = b.Build(bg)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.srv.Start(bg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(bg, 10*time.Second)
		defer cancel()
		if err := e.srv.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	e.base = "http://" + e.srv.AdminAddr() + "/"
	opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	if o.auth {
		opts = append(opts, grpc.WithPerRPCCredentials(bearer(opsToken)))
	}
	conn, err := grpc.NewClient(e.srv.Addr(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	e.nodes = orbitv1.NewNodeServiceClient(conn)
	e.addrs = orbitv1.NewAddressableServiceClient(conn)
	return e
}

// join joins node key of namespace ns serving types.
func (e *env) join(t *testing.T, ns, key string, types ...string) {
	t.Helper()
	_, err := e.nodes.Join(bg, &orbitv1.JoinRequest{Namespace: ns, NodeKey: key, Url: "grpc://10.0.0.1:7000/" + key,
		Capabilities: &orbitv1.NodeCapabilities{AddressableTypes: types}})
	if err != nil {
		t.Fatalf("join %s/%s: %v", ns, key, err)
	}
}

func sref(ns, typ, key string) *orbitv1.AddressableReference {
	return &orbitv1.AddressableReference{Namespace: ns, Type: typ,
		Key: &orbitv1.AddressableKey{Key: &orbitv1.AddressableKey_StringKey{StringKey: key}}}
}

// place places ns/typ/key and returns the holder's key.
func (e *env) place(t *testing.T, ns, typ, key string) string {
	t.Helper()
	r, err := e.addrs.LocateOrPlace(bg, &orbitv1.LocateOrPlaceRequest{Reference: sref(ns, typ, key)})
	if err != nil {
		t.Fatalf("place %s/%s/%s: %v", ns, typ, key, err)
	}
	return r.GetLease().GetNode().GetKey()
}

// get GETs path (relative to the admin root) with the env's credential.
func (e *env) get(t *testing.T, path string) (*http.Response, []byte) {
	t.Helper()
	return e.do(t, http.MethodGet, path, e.header)
}

func (e *env) do(t *testing.T, method, path, authz string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, e.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read: %v", method, path, err)
	}
	return resp, b
}

// status GETs /api/v1/status.
func (e *env) status(t *testing.T) statuspage.Status {
	t.Helper()
	resp, b := e.get(t, "api/v1/status")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/v1/status: %s: %s", resp.Status, b)
	}
	var st statuspage.Status
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatalf("decode status: %v\n%s", err, b)
	}
	return st
}

// namespace returns the namespace ns of st (fails the test without it).
func namespace(t *testing.T, st statuspage.Status, ns string) statuspage.Namespace {
	t.Helper()
	for _, n := range st.Namespaces {
		if n.Name == ns {
			return n
		}
	}
	t.Fatalf("namespace %q not in the status: %+v", ns, st.Namespaces)
	return statuspage.Namespace{}
}

func provider(st statuspage.Status, name string) (statuspage.Provider, bool) {
	for _, p := range st.Providers {
		if p.Name == name {
			return p, true
		}
	}
	return statuspage.Provider{}, false
}

// waitStatus polls the status API until ok holds (the health loop runs on
// its own ticker), or fails after d.
func (e *env) waitStatus(t *testing.T, d time.Duration, what string, ok func(statuspage.Status) bool) statuspage.Status {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		st := e.status(t)
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			b, _ := json.MarshalIndent(st, "", "  ")
			t.Fatalf("%s: not within %s; last status:\n%s", what, d, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// lockedWriter collects what the audit log writes.
type lockedWriter struct {
	mu chan struct{}
	b  strings.Builder
}

func newLockedWriter() *lockedWriter { return &lockedWriter{mu: make(chan struct{}, 1)} }

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu <- struct{}{}
	defer func() { <-w.mu }()
	return w.b.Write(p)
}

func (w *lockedWriter) String() string {
	w.mu <- struct{}{}
	defer func() { <-w.mu }()
	return w.b.String()
}

// newAuditLog is an audit log writing to memory, closed after the test.
func newAuditLog(t *testing.T) *audit.Log {
	l := audit.New(newLockedWriter())
	t.Cleanup(func() { _ = l.Close() })
	return l
}
