package server_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	orbitv1 "github.com/orbit-go/orbit/api/orbit/v1"
	"github.com/orbit-go/orbit/clock"
	"github.com/orbit-go/orbit/persistence/config"
	"github.com/orbit-go/orbit/server"
	"github.com/orbit-go/orbit/server/auth"
	"github.com/orbit-go/orbit/server/auth/authtest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
)

// Tokens of the auth tests (their digests are configured, not them).
const (
	opsToken     = "ops-token-0123456789abcdefghijklmnopqrstuvw"
	ciToken      = "ci-token-0123456789abcdefghijklmnopqrstuvwx"
	scraperToken = "scraper-token-0123456789abcdefghijklmnopqrs"
)

// authEnv is a server with auth on, over TLS that verifies client
// certificates when given, namespace "x" by default, and the identities
// of the tests.
type authEnv struct {
	srv                          *server.Server
	pki                          *authtest.PKI
	node1, node2, client, reader tls.Certificate
	logs                         *lockedBuffer
}

func authConfig(extra ...string) *config.AuthConfig {
	return &config.AuthConfig{
		Mode: "on",
		Tokens: append([]string{auth.DigestLine("ops", opsToken), auth.DigestLine("ci", ciToken),
			auth.DigestLine("scraper", scraperToken)}, extra...),
		Grants: []string{
			"spiffe://example.org/ns/x/*=node@x",
			"client.example.org=client@x",
			"certificate:reader-cn=reader@x",
			"ops=admin@*",
			"token:ci=client@x",
			"token:scraper=reader@x",
		},
	}
}

func startServer(t *testing.T, b *server.Builder) *server.Server {
	t.Helper()
	cfg, err := config.NewBuilder().WithMemory("memory", config.DefaultMemoryConfig(), true).Build()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := b.WithPersistence(cfg).WithClock(clock.NewManual(time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))).Build(bg)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(bg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop(bg) })
	return srv
}

func newAuthEnv(t *testing.T, a *config.AuthConfig) *authEnv {
	t.Helper()
	p := authtest.NewPKI(t)
	e := &authEnv{pki: p, logs: &lockedBuffer{},
		node1:  p.Issue(t, authtest.Names{CN: "ignored", URI: []string{"spiffe://example.org/ns/x/node1"}, DNS: []string{"ignored.example.org"}}),
		node2:  p.Issue(t, authtest.Names{URI: []string{"spiffe://example.org/ns/x/node2"}}),
		client: p.Issue(t, authtest.Names{CN: "ignored-too", DNS: []string{"client.example.org"}}),
		reader: p.Issue(t, authtest.Names{CN: "reader-cn"}),
	}
	e.srv = startServer(t, server.NewBuilder().WithNamespace("x").WithListenAddress("127.0.0.1:0").
		WithAdminAddress("127.0.0.1:0").WithTLS(p.ServerTLS(t)).WithAuth(a).
		WithLogger(slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	return e
}

// bearer sends a token with every call (the test's own, to exercise the
// server alone).
type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}
func (bearer) RequireTransportSecurity() bool { return true }

// conn dials the server as cert (nil: none) with token ("" : none).
func (e *authEnv) conn(t *testing.T, cert *tls.Certificate, token string) *grpc.ClientConn {
	t.Helper()
	opts := []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(e.pki.ClientTLS(cert)))}
	if token != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(bearer(token)))
	}
	c, err := grpc.NewClient(e.srv.Addr(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// wantDenied checks err's code and that its message names each of words.
func wantDenied(t *testing.T, what string, err error, code codes.Code, words ...string) {
	t.Helper()
	if status.Code(err) != code {
		t.Fatalf("%s: %v, want %s", what, err, code)
	}
	for _, w := range words {
		if !strings.Contains(status.Convert(err).Message(), w) {
			t.Errorf("%s: message %q does not name %q", what, status.Convert(err).Message(), w)
		}
	}
}

func greeterJoin(ns, key string) *orbitv1.JoinRequest {
	return &orbitv1.JoinRequest{Namespace: ns, NodeKey: key, Url: "grpc://127.0.0.1:1",
		Capabilities: &orbitv1.NodeCapabilities{AddressableTypes: []string{"Greeter"}}}
}

// With auth on, an anonymous caller can neither join, list, watch, place
// nor abandon: Unauthenticated naming the role and the namespace. Health
// stays open. A refused call leaves nothing behind (no node joined).
func TestAuthAnonymousRefused(t *testing.T) {
	e := newAuthEnv(t, authConfig())
	anon := e.conn(t, nil, "")
	nodes, addrs := orbitv1.NewNodeServiceClient(anon), orbitv1.NewAddressableServiceClient(anon)

	_, err := nodes.Join(bg, greeterJoin("", "n"))
	wantDenied(t, "anonymous join", err, codes.Unauthenticated, `role "node"`, `namespace "x"`, "no credential")
	_, err = nodes.ListNodes(bg, &orbitv1.ListNodesRequest{Namespace: "prod"})
	wantDenied(t, "anonymous list", err, codes.Unauthenticated, `role "reader"`, `namespace "prod"`)
	_, err = addrs.Abandon(bg, &orbitv1.AbandonRequest{Reference: sref("", "Greeter", "v"), Node: &orbitv1.NodeId{Key: "n"}, Epoch: 1, ChallengeToken: "t"})
	wantDenied(t, "anonymous abandon", err, codes.Unauthenticated, `role "node"`)
	_, err = addrs.LocateOrPlace(bg, &orbitv1.LocateOrPlaceRequest{Reference: sref("", "Greeter", "v")})
	wantDenied(t, "anonymous locate", err, codes.Unauthenticated, `role "client"`)
	_, err = addrs.ListLeases(bg, &orbitv1.ListLeasesRequest{Node: &orbitv1.NodeId{Key: "n"}})
	wantDenied(t, "anonymous list leases", err, codes.Unauthenticated, `role "reader"`)
	w, err := nodes.WatchNodes(bg, &orbitv1.WatchNodesRequest{})
	if err == nil {
		_, err = w.Recv()
	}
	wantDenied(t, "anonymous watch", err, codes.Unauthenticated, `role "reader"`, `namespace "x"`)

	// A bad token is refused too, without being echoed.
	_, err = orbitv1.NewNodeServiceClient(e.conn(t, nil, "not-a-configured-token-xyz")).ListNodes(bg, &orbitv1.ListNodesRequest{})
	wantDenied(t, "unknown token", err, codes.Unauthenticated, "bearer token not recognised")
	if strings.Contains(err.Error(), "not-a-configured-token-xyz") || strings.Contains(e.logs.String(), "not-a-configured-token-xyz") {
		t.Errorf("the presented token is shown: %v", err)
	}

	if h, err := healthpb.NewHealthClient(anon).Check(bg, &healthpb.HealthCheckRequest{}); err != nil || h.Status != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("health for anonymous callers: %v %v", h, err)
	}
	list, err := orbitv1.NewNodeServiceClient(e.conn(t, nil, opsToken)).ListNodes(bg, &orbitv1.ListNodesRequest{})
	if err != nil || len(list.Nodes) != 0 {
		t.Fatalf("after refused joins: %v %v", list, err)
	}
}

// Each role does what it is for and nothing else; a node identity cannot
// act on a node it did not join, even holding that node's token; admin
// can do everything. Identities come from the SPIFFE URI SAN, the DNS SAN,
// the subject CN and bearer tokens.
func TestAuthRoles(t *testing.T) {
	e := newAuthEnv(t, authConfig())
	n1 := orbitv1.NewNodeServiceClient(e.conn(t, &e.node1, ""))
	a1 := orbitv1.NewAddressableServiceClient(e.conn(t, &e.node1, ""))
	n2 := orbitv1.NewNodeServiceClient(e.conn(t, &e.node2, ""))
	a2 := orbitv1.NewAddressableServiceClient(e.conn(t, &e.node2, ""))
	clientConn := e.conn(t, &e.client, "")
	readerConn := e.conn(t, &e.reader, "")
	opsConn := e.conn(t, nil, opsToken)
	ciConn := e.conn(t, nil, ciToken)

	// node: joins (the default namespace is x), owner recorded.
	j1, err := n1.Join(bg, greeterJoin("", "node1"))
	if err != nil {
		t.Fatalf("node joining its namespace: %v", err)
	}
	j2, err := n2.Join(bg, greeterJoin("x", "node2"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = n1.Join(bg, greeterJoin("prod", "node1"))
	wantDenied(t, "node joining another namespace", err, codes.PermissionDenied, `role "node"`, `namespace "prod"`, "spiffe://example.org/ns/x/node1")

	// client: cannot join, places.
	_, err = orbitv1.NewNodeServiceClient(clientConn).Join(bg, greeterJoin("x", "evil"))
	wantDenied(t, "client joining", err, codes.PermissionDenied, `role "node"`, `namespace "x"`, "certificate:client.example.org")
	ca := orbitv1.NewAddressableServiceClient(clientConn)
	var placed *orbitv1.AddressableLease
	var onNode1 *orbitv1.AddressableReference
	for i := 0; placed == nil && i < 64; i++ {
		ref := sref("", "Greeter", "g"+string(rune('a'+i)))
		r, err := ca.LocateOrPlace(bg, &orbitv1.LocateOrPlaceRequest{Reference: ref})
		if err != nil {
			t.Fatalf("client placing: %v", err)
		}
		if r.Lease.Node.GetKey() == "node1" {
			placed, onNode1 = r.Lease, ref
		}
	}
	if placed == nil {
		t.Fatal("nothing placed on node1 in 64 tries")
	}
	_, err = ca.LocateOrPlaceBatch(bg, &orbitv1.LocateOrPlaceBatchRequest{References: []*orbitv1.AddressableReference{sref("x", "Greeter", "a"), sref("prod", "Greeter", "b")}})
	wantDenied(t, "client batch naming another namespace", err, codes.PermissionDenied, `role "client"`, `namespace "prod"`)
	_, err = orbitv1.NewNodeServiceClient(clientConn).ListNodes(bg, &orbitv1.ListNodesRequest{})
	wantDenied(t, "client listing", err, codes.PermissionDenied, `role "reader"`)

	// reader: lists and watches, cannot place.
	rn := orbitv1.NewNodeServiceClient(readerConn)
	list, err := rn.ListNodes(bg, &orbitv1.ListNodesRequest{})
	if err != nil || len(list.Nodes) != 2 {
		t.Fatalf("reader listing: %v %v", list, err)
	}
	for _, n := range list.Nodes {
		if want := "certificate:spiffe://example.org/ns/x/" + n.Id.Key; n.Owner != want {
			t.Errorf("node %s owner %q, want %q", n.Id.Key, n.Owner, want)
		}
	}
	wctx, cancel := context.WithTimeout(bg, 10*time.Second)
	defer cancel()
	w, err := rn.WatchNodes(wctx, &orbitv1.WatchNodesRequest{Namespace: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if ev, err := w.Recv(); err != nil || ev.Kind != orbitv1.NodeEvent_KIND_EXISTING {
		t.Fatalf("reader watching: %v %v", ev, err)
	}
	cancel()
	if _, err := orbitv1.NewAddressableServiceClient(readerConn).ListLeases(bg, &orbitv1.ListLeasesRequest{Node: j1.Id}); err != nil {
		t.Fatalf("reader listing leases: %v", err)
	}
	_, err = orbitv1.NewAddressableServiceClient(readerConn).LocateOrPlace(bg, &orbitv1.LocateOrPlaceRequest{Reference: sref("", "Greeter", "r")})
	wantDenied(t, "reader placing", err, codes.PermissionDenied, `role "client"`, `namespace "x"`, "certificate:reader-cn")
	w, err = rn.WatchNodes(bg, &orbitv1.WatchNodesRequest{Namespace: "prod"})
	if err == nil {
		_, err = w.Recv()
	}
	wantDenied(t, "reader watching another namespace", err, codes.PermissionDenied, `role "reader"`, `namespace "prod"`)

	// node2 holds node1's token (stolen) and epoch: still refused, as
	// node1's owner is another identity.
	tok1 := j1.Lease.ChallengeToken
	_, err = a2.Abandon(bg, &orbitv1.AbandonRequest{Reference: onNode1, Node: j1.Id, Epoch: placed.Epoch, ChallengeToken: tok1})
	wantDenied(t, "node2 abandoning node1's lease", err, codes.PermissionDenied, "node x/node1 was joined by another identity")
	_, err = a2.RenewLease(bg, &orbitv1.RenewLeaseRequest{Reference: onNode1, Node: j1.Id, Epoch: placed.Epoch, ChallengeToken: tok1})
	wantDenied(t, "node2 renewing node1's lease", err, codes.PermissionDenied, "node x/node1")
	_, err = n2.RenewLease(bg, &orbitv1.RenewNodeLeaseRequest{Id: j1.Id, ChallengeToken: tok1})
	wantDenied(t, "node2 renewing node1", err, codes.PermissionDenied, "node x/node1")
	_, err = n2.Leave(bg, &orbitv1.LeaveRequest{Id: j1.Id, ChallengeToken: tok1})
	wantDenied(t, "node2 leaving node1", err, codes.PermissionDenied, "node x/node1")
	_, err = a2.LocateOrPlace(bg, &orbitv1.LocateOrPlaceRequest{Reference: sref("", "Greeter", "n")})
	wantDenied(t, "node placing without client role", err, codes.PermissionDenied, `role "client"`)

	// node1 acts on its own node and leases.
	if _, err := n1.RenewLease(bg, &orbitv1.RenewNodeLeaseRequest{Id: j1.Id, ChallengeToken: tok1}); err != nil {
		t.Fatalf("node1 renewing itself: %v", err)
	}
	if _, err := a1.RenewLease(bg, &orbitv1.RenewLeaseRequest{Reference: onNode1, Node: j1.Id, Epoch: placed.Epoch, ChallengeToken: tok1}); err != nil {
		t.Fatalf("node1 renewing its lease: %v", err)
	}

	// A client token: places in x only.
	cia := orbitv1.NewAddressableServiceClient(ciConn)
	if _, err := cia.LocateOrPlace(bg, &orbitv1.LocateOrPlaceRequest{Reference: sref("x", "Greeter", "t")}); err != nil {
		t.Fatalf("client token placing: %v", err)
	}
	_, err = cia.LocateOrPlace(bg, &orbitv1.LocateOrPlaceRequest{Reference: sref("prod", "Greeter", "t")})
	wantDenied(t, "client token in another namespace", err, codes.PermissionDenied, "token:ci", `namespace "prod"`)

	// admin: everything, in any namespace, on any node.
	on, oa := orbitv1.NewNodeServiceClient(opsConn), orbitv1.NewAddressableServiceClient(opsConn)
	if _, err := on.Join(bg, greeterJoin("prod", "p1")); err != nil {
		t.Fatalf("admin joining: %v", err)
	}
	if _, err := on.ListNodes(bg, &orbitv1.ListNodesRequest{Namespace: "prod"}); err != nil {
		t.Fatalf("admin listing: %v", err)
	}
	if _, err := oa.LocateOrPlace(bg, &orbitv1.LocateOrPlaceRequest{Reference: sref("prod", "Greeter", "p")}); err != nil {
		t.Fatalf("admin placing: %v", err)
	}
	if _, err := oa.Abandon(bg, &orbitv1.AbandonRequest{Reference: onNode1, Node: j1.Id, Epoch: placed.Epoch, ChallengeToken: tok1}); err != nil {
		t.Fatalf("admin abandoning node1's lease: %v", err)
	}
	if _, err := on.Leave(bg, &orbitv1.LeaveRequest{Id: j2.Id, ChallengeToken: j2.Lease.ChallengeToken}); err != nil {
		t.Fatalf("admin removing node2: %v", err)
	}
}

// The admin port serves TLS with gRPC's certificate; with auth on,
// /metrics and /readyz need a reader (or admin) identity, /healthz is open.
func TestAuthAdminPort(t *testing.T) {
	e := newAuthEnv(t, authConfig())
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: e.pki.ClientTLS(nil)}, Timeout: 10 * time.Second}
	get := func(path, token string, c *http.Client) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", "https://"+e.srv.AdminAddr()+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if len(b) > 300 && resp.StatusCode != http.StatusOK {
			b = b[:300] // failure messages stay short
		}
		return resp.StatusCode, string(b)
	}
	if code, body := get("/metrics", "", hc); code != http.StatusUnauthorized || !strings.Contains(body, `role "reader"`) {
		t.Errorf("anonymous /metrics: %d %.200q", code, body)
	}
	if code, _ := get("/readyz", "", hc); code != http.StatusUnauthorized {
		t.Errorf("anonymous /readyz: %d", code)
	}
	if code, body := get("/metrics", ciToken, hc); code != http.StatusForbidden || !strings.Contains(body, "token:ci lacks role") {
		t.Errorf("client-only token /metrics: %d %q", code, body)
	}
	if code, body := get("/metrics", scraperToken, hc); code != http.StatusOK || !strings.Contains(body, "orbit_server_") {
		t.Errorf("reader token /metrics: %d", code)
	}
	if code, _ := get("/metrics", opsToken, hc); code != http.StatusOK {
		t.Errorf("admin token /metrics: %d", code)
	}
	rc := &http.Client{Transport: &http.Transport{TLSClientConfig: e.pki.ClientTLS(&e.reader)}, Timeout: 10 * time.Second}
	if code, _ := get("/readyz", "", rc); code != http.StatusOK {
		t.Errorf("reader certificate /readyz: %d", code)
	}
	if code, body := get("/healthz", "", hc); code != http.StatusOK || body != "ok\n" {
		t.Errorf("anonymous /healthz: %d %q", code, body)
	}
	// Plain HTTP is not served.
	if resp, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://" + e.srv.AdminAddr() + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("the admin port answers plain HTTP while gRPC has TLS")
		}
	}
}

// Rotation: ReloadTokens re-reads the token files; a removed token is
// refused from then on, a new one accepted.
func TestAuthTokenFileReload(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "tokens")
	const oldTok, newTok = "old-token-0123456789abcdefghijklmnopqrstu", "new-token-0123456789abcdefghijklmnopqrstu"
	write := func(lines ...string) {
		if err := os.WriteFile(file, []byte("# rotated\n"+strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(auth.DigestLine("robot", oldTok))
	a := authConfig()
	a.TokenFiles = []string{file}
	a.Grants = append(a.Grants, "robot=reader@x")
	e := newAuthEnv(t, a)
	list := func(tok string) error {
		_, err := orbitv1.NewNodeServiceClient(e.conn(t, nil, tok)).ListNodes(bg, &orbitv1.ListNodesRequest{})
		return err
	}
	if err := list(oldTok); err != nil {
		t.Fatalf("token from the file: %v", err)
	}
	write(auth.DigestLine("robot", newTok))
	if err := e.srv.ReloadTokens(); err != nil {
		t.Fatal(err)
	}
	wantDenied(t, "rotated-out token", list(oldTok), codes.Unauthenticated, "not recognised")
	if err := list(newTok); err != nil {
		t.Fatalf("new token: %v", err)
	}
	write("robot:" + newTok) // a token in clear: refused, the set in force kept
	err := e.srv.ReloadTokens()
	if err == nil || !strings.Contains(err.Error(), "tokens:2") || strings.Contains(err.Error(), newTok) {
		t.Fatalf("reload of a file with a clear token: %v", err)
	}
	if err := list(newTok); err != nil {
		t.Fatalf("after a failed reload: %v", err)
	}
}

// Auth on without any way to identify a caller is refused at Build.
func TestAuthNeedsAnIdentitySource(t *testing.T) {
	cfg, err := config.NewBuilder().WithMemory("memory", config.DefaultMemoryConfig(), true).Build()
	if err != nil {
		t.Fatal(err)
	}
	_, err = server.NewBuilder().WithListenAddress("127.0.0.1:0").WithPersistence(cfg).WithLogger(quiet).
		WithAuth(&config.AuthConfig{Mode: "on", Grants: []string{"x=admin@*"}}).Build(bg)
	if err == nil || !strings.Contains(err.Error(), "no caller can be identified") {
		t.Fatalf("Build = %v", err)
	}
}

// Reflection describes the API to readers only, when auth is on.
func TestAuthReflectionNeedsReader(t *testing.T) {
	e := newAuthEnv(t, authConfig())
	list := func(c *grpc.ClientConn) error {
		st, err := reflectionpb.NewServerReflectionClient(c).ServerReflectionInfo(bg)
		if err != nil {
			return err
		}
		// A stream the server already refused answers Send with io.EOF;
		// its status comes from Recv.
		if err := st.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		r, err := st.Recv()
		if err == nil && len(r.GetListServicesResponse().GetService()) == 0 {
			t.Errorf("reflection listed no service: %v", r)
		}
		return err
	}
	wantDenied(t, "anonymous reflection", list(e.conn(t, nil, "")), codes.Unauthenticated, `role "reader" in any namespace`)
	wantDenied(t, "client reflection", list(e.conn(t, &e.client, "")), codes.PermissionDenied, `role "reader"`)
	if err := list(e.conn(t, &e.reader, "")); err != nil {
		t.Fatalf("reader reflection: %v", err)
	}
}

// A server reachable beyond loopback with auth off says so at start, at
// WARN; on loopback it does not.
func TestAuthOffBeyondLoopbackWarns(t *testing.T) {
	for _, tc := range []struct {
		listen string
		warn   bool
	}{{"127.0.0.1:0", false}, {":0", true}} {
		var logs lockedBuffer
		startServer(t, server.NewBuilder().WithListenAddress(tc.listen).
			WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
		got := strings.Contains(logs.String(), "level=WARN msg=\"AUTHENTICATION IS OFF")
		if got != tc.warn {
			t.Errorf("listen %s: warning logged = %v, want %v\n%s", tc.listen, got, tc.warn, logs.String())
		}
		if tc.warn && !strings.Contains(logs.String(), "listener=grpc") {
			t.Errorf("the warning does not name the listener:\n%s", logs.String())
		}
	}
}
