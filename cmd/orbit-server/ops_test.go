package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orbit-go/orbit"
	"github.com/orbit-go/orbit/client"
	"github.com/orbit-go/orbit/persistence/config"
	"github.com/orbit-go/orbit/server"
	"github.com/orbit-go/orbit/server/auth"
	"github.com/orbit-go/orbit/server/auth/authtest"
	"github.com/orbit-go/orbit/server/servertest"
)

// opsTimings are short server timings for the operator command tests.
func opsTimings() server.Timings {
	t := server.DefaultTimings()
	t.NodeLeaseTTL = time.Second
	t.NodeCacheTTL = 100 * time.Millisecond
	return t
}

// joinTestNode joins a node hosting types through its own client; the
// node is left when the test ends.
func joinTestNode(t *testing.T, addr, key, url string, types ...string) *client.Node {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	n, err := c.Join(ctx, client.NodeOptions{Key: key, URL: url, Capabilities: orbit.NodeCapabilities{AddressableTypes: types}})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// wantExit runs the command line and fails unless it exits with code;
// it returns stdout and stderr.
func wantExit(t *testing.T, code int, args ...string) (string, string) {
	t.Helper()
	got, out, errOut := runCLI(t, args...)
	if got != code {
		t.Fatalf("orbit-server %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), got, code, out, errOut)
	}
	return out, errOut
}

func TestOpsNodesListAndGet(t *testing.T) {
	srv := servertest.Start(t, opsTimings())
	addr := srv.Addr()
	n := joinTestNode(t, addr, "node-a", "grpc://127.0.0.1:9000", "Greeter", "Counter")
	token := n.Lease().ChallengeToken

	out, _ := wantExit(t, 0, "nodes", "list", "--server", addr)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "NAMESPACE") || !strings.Contains(lines[0], "EXPIRES_IN") {
		t.Fatalf("nodes list table: want a header and one row, got:\n%s", out)
	}
	for _, w := range []string{"default", "node-a", "active", "grpc://127.0.0.1:9000", "Greeter,Counter"} {
		if !strings.Contains(lines[1], w) {
			t.Errorf("nodes list row %q lacks %q", lines[1], w)
		}
	}

	out, _ = wantExit(t, 0, "nodes", "list", "--server", addr, "--namespace", "default", "-o", "json")
	var nodes []map[string]any
	if err := json.Unmarshal([]byte(out), &nodes); err != nil {
		t.Fatalf("nodes list -o json: %v\n%s", err, out)
	}
	if len(nodes) != 1 || nodes[0]["key"] != "node-a" || nodes[0]["namespace"] != "default" || nodes[0]["status"] != "active" ||
		nodes[0]["url"] != "grpc://127.0.0.1:9000" {
		t.Fatalf("nodes list -o json: %s", out)
	}
	for _, f := range []string{"addressable_types", "max_addressables", "tags", "expires_at", "incarnation", "owner"} {
		if _, ok := nodes[0][f]; !ok {
			t.Errorf("nodes list -o json lacks field %q: %s", f, out)
		}
	}
	if exp, err := time.Parse(time.RFC3339Nano, nodes[0]["expires_at"].(string)); err != nil || exp.Location() != time.UTC {
		t.Errorf("expires_at %v: want an RFC 3339 time in UTC (%v)", nodes[0]["expires_at"], err)
	}

	out, _ = wantExit(t, 0, "nodes", "get", "node-a", "--server", addr, "-o", "json")
	var one map[string]any
	if err := json.Unmarshal([]byte(out), &one); err != nil || one["key"] != "node-a" {
		t.Fatalf("nodes get -o json: %v\n%s", err, out)
	}
	types, _ := one["addressable_types"].([]any)
	if len(types) != 2 || types[0] != "Greeter" || types[1] != "Counter" {
		t.Errorf("nodes get: addressable_types %v", one["addressable_types"])
	}
	out, _ = wantExit(t, 0, "nodes", "get", "node-a", "--server", addr)
	if !strings.HasPrefix(out, "NAMESPACE") || !strings.Contains(out, "node-a") {
		t.Errorf("nodes get table:\n%s", out)
	}
	if strings.Contains(out, token) {
		t.Fatal("nodes get printed the node's challenge token")
	}

	_, errOut := wantExit(t, 1, "nodes", "get", "node-b", "--server", addr)
	if !strings.Contains(errOut, `"node-b"`) || !strings.Contains(errOut, "no live node") {
		t.Errorf("nodes get of an unknown key: stderr %q", errOut)
	}

	// Another namespace has no nodes: an empty table, an empty JSON array.
	out, _ = wantExit(t, 0, "nodes", "list", "--server", addr, "--namespace", "other", "-o", "json")
	if strings.TrimSpace(out) != "[]" {
		t.Errorf("nodes list of an empty namespace: %q, want []", out)
	}

	// The address may come from the environment.
	t.Setenv(envServerAddr, addr)
	out, _ = wantExit(t, 0, "nodes", "list", "--active-only")
	if !strings.Contains(out, "node-a") {
		t.Errorf("nodes list with $%s: %s", envServerAddr, out)
	}
}

// leases get is a pure lookup: an addressable that was never placed is
// NotFound (exit 1) and is still not placed afterwards; locate places it
// and says so once.
func TestOpsLocateAndLeases(t *testing.T) {
	srv := servertest.Start(t, opsTimings())
	addr := srv.Addr()

	_, errOut := wantExit(t, 1, "locate", "Greeter/alice", "--server", addr)
	if !strings.Contains(errOut, "node run --types Greeter") {
		t.Errorf("locate without a node of the type: stderr %q, want a hint", errOut)
	}

	n := joinTestNode(t, addr, "node-a", "grpc://127.0.0.1:9000", "Greeter")
	_, errOut = wantExit(t, 1, "leases", "get", "Greeter/alice", "--server", addr)
	if !strings.Contains(errOut, "Greeter/alice is not placed") || !strings.Contains(errOut, "never places") {
		t.Errorf("leases get of an unplaced addressable: stderr %q", errOut)
	}
	wantExit(t, 1, "leases", "get", "Greeter/alice", "--server", addr, "-o", "json")
	out, _ := wantExit(t, 0, "leases", "list", "--node", "node-a", "--server", addr, "-o", "json")
	if strings.TrimSpace(out) != "[]" {
		t.Fatalf("after leases get, node-a holds %s: the lookup placed", out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	alice := orbit.AddressableReference{Type: "Greeter", Key: orbit.StringKey("alice")}
	if _, err := c.Lookup(ctx, alice); !errors.Is(err, orbit.ErrNotFound) {
		t.Fatalf("after leases get, Lookup: %v, want NotFound (not placed)", err)
	}

	out, _ = wantExit(t, 0, "locate", "Greeter/alice", "--server", addr)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.HasSuffix(lines[0], "PLACED") || !strings.Contains(lines[1], "Greeter/alice") ||
		!strings.Contains(lines[1], "node-a") || !strings.HasSuffix(lines[1], "yes") {
		t.Fatalf("first locate table:\n%s", out)
	}
	out, _ = wantExit(t, 0, "locate", "Greeter/alice", "--server", addr, "-o", "json")
	var loc map[string]any
	if err := json.Unmarshal([]byte(out), &loc); err != nil {
		t.Fatalf("locate -o json: %v\n%s", err, out)
	}
	if loc["placed"] != false || loc["node"] != "node-a" || loc["type"] != "Greeter" || loc["key"] != "alice" ||
		loc["key_kind"] != "string" || loc["namespace"] != "default" || loc["node_url"] != "grpc://127.0.0.1:9000" {
		t.Fatalf("second locate -o json: %s", out)
	}
	if e, _ := loc["epoch"].(float64); e <= 0 {
		t.Fatalf("locate -o json: epoch %v, want a positive number", loc["epoch"])
	}

	out, _ = wantExit(t, 0, "leases", "get", "Greeter/alice", "--server", addr)
	if !strings.Contains(out, "node-a") || strings.Contains(out, "PLACED") {
		t.Errorf("leases get table:\n%s", out)
	}
	out, _ = wantExit(t, 0, "leases", "get", "Greeter/alice", "--server", addr, "-o", "json")
	var got map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil || got["node"] != "node-a" || got["epoch"] != loc["epoch"] {
		t.Fatalf("leases get -o json: %v\n%s", err, out)
	}
	if _, ok := got["placed"]; ok {
		t.Errorf("leases get -o json has a placed field: %s", out)
	}
	for _, f := range []string{"node_incarnation", "created_at", "renew_at", "expires_at"} {
		if _, ok := got[f]; !ok {
			t.Errorf("leases get -o json lacks %q: %s", f, out)
		}
	}

	// Integer keys and keys with '/' in them.
	wantExit(t, 0, "locate", "Greeter/42", "--key-kind", "int32", "--server", addr)
	wantExit(t, 0, "locate", "Greeter/users/bob", "--server", addr)
	out, _ = wantExit(t, 0, "leases", "list", "--node", "node-a", "--server", addr, "-o", "json")
	var held []map[string]any
	if err := json.Unmarshal([]byte(out), &held); err != nil || len(held) != 3 {
		t.Fatalf("leases list -o json: %v\n%s", err, out)
	}
	kinds := map[string]string{}
	for _, l := range held {
		kinds[l["key"].(string)] = l["key_kind"].(string)
	}
	if kinds["alice"] != "string" || kinds["42"] != "int32" || kinds["users/bob"] != "string" {
		t.Errorf("leases list keys: %v", kinds)
	}
	out, _ = wantExit(t, 0, "leases", "list", "--node", "node-a", "--server", addr)
	for _, w := range []string{"Greeter/alice", "Greeter/i32:42", "Greeter/users/bob"} {
		if !strings.Contains(out, w) {
			t.Errorf("leases list table lacks %s:\n%s", w, out)
		}
	}
	wantExit(t, 0, "leases", "get", "Greeter/42", "--key-kind", "int32", "--server", addr)
	wantExit(t, 1, "leases", "get", "Greeter/42", "--key-kind", "int64", "--server", addr)

	// A node that left holds nothing: the lookup says not placed.
	lctx, lcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer lcancel()
	if err := n.Leave(lctx); err != nil {
		t.Fatal(err)
	}
	wantExit(t, 1, "leases", "get", "Greeter/alice", "--server", addr)
}

// Bad command lines exit 2 without contacting anything (the address is
// one where nothing listens); a server that cannot be reached exits 1.
func TestOpsExitCodes(t *testing.T) {
	nothing := freeAddr(t)
	for _, args := range [][]string{
		{"locate"},
		{"locate", "a/b", "c/d"},
		{"locate", "Greeter"},
		{"locate", "/alice"},
		{"leases", "get", "Greeter/"},
		{"leases", "get", "Greeter/x", "--key-kind", "float"},
		{"leases", "get", "Greeter/abc", "--key-kind", "int32"},
		{"leases", "get", "Greeter/99999999999", "--key-kind", "int32"},
		{"leases", "get", "Greeter/x", "--key-kind", "none"},
		{"leases", "list"},
		{"leases", "list", "--node", "a", "extra"},
		{"nodes", "list", "-o", "yaml"},
		{"nodes", "list", "--no-such-flag"},
		{"nodes", "list", "--timeout", "0s"},
		{"nodes", "get"},
		{"nodes", "list", "--tls-cert", "c.pem"},
		{"nodes", "list", "--insecure", "--tls-ca", "ca.pem"},
		{"nodes", "list", "--insecure", "--tls-server-name", "x"},
		{"node", "run"},
		{"node", "run", "--types", "Greeter,"},
		{"node", "run", "--types", "Greeter", "--poll-interval", "0s"},
		{"node", "run", "--types", "Greeter", "-o", "xml"},
	} {
		_, errOut := wantExit(t, 2, append(args, "--server", nothing)...)
		if !strings.Contains(errOut, "--help") {
			t.Errorf("%v: stderr %q lacks the pointer to --help", args, errOut)
		}
	}
	_, errOut := wantExit(t, 2, "locate", "Greeter")
	if !strings.Contains(errOut, `"Greeter"`) || !strings.Contains(errOut, "TYPE/KEY") {
		t.Errorf("bad TYPE/KEY: stderr %q does not name the argument", errOut)
	}

	_, errOut = wantExit(t, 1, "nodes", "list", "--server", nothing, "--timeout", "300ms")
	if !strings.Contains(errOut, nothing) {
		t.Errorf("unreachable server: stderr %q does not name %s", errOut, nothing)
	}
	wantExit(t, 1, "locate", "Greeter/alice", "--server", nothing, "--timeout", "300ms")
	wantExit(t, 1, "node", "run", "--types", "Greeter", "--server", nothing, "--timeout", "300ms")
	wantExit(t, 1, "nodes", "list", "--server", nothing, "--tls-ca", filepath.Join(t.TempDir(), "missing.pem"))
}

func TestTargetIsLocal(t *testing.T) {
	for target, want := range map[string]bool{
		"127.0.0.1:50051": true, "[::1]:50051": true, "localhost:1": true, "127.1.2.3:5": true,
		"127.0.0.1:1,localhost:2": true, "unix:///tmp/orbit.sock": true, "dns:///localhost:50051": true,
		"10.0.0.1:50051": false, "orbit.internal:50051": false, "127.0.0.1:1,10.0.0.1:2": false,
		"dns:///orbit.internal:50051": false, "127.0.0.1": false, "": false, "0.0.0.0:50051": false,
	} {
		if got := targetIsLocal(target); got != want {
			t.Errorf("targetIsLocal(%q) = %v, want %v", target, got, want)
		}
	}
}

// writePEM writes blocks of type typ to a file of dir and returns its path.
func writePEM(t *testing.T, dir, name, typ string, ders ...[]byte) string {
	t.Helper()
	var b []byte
	for _, der := range ders {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})...)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// writeCertPair writes a certificate and its key as PEM files.
func writeCertPair(t *testing.T, dir, name string, c tls.Certificate) (certPath, keyPath string) {
	t.Helper()
	key, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	return writePEM(t, dir, name+".pem", "CERTIFICATE", c.Certificate...), writePEM(t, dir, name+"-key.pem", "PRIVATE KEY", key)
}

// nodeOnlyToken has role node in "default", and no other.
const nodeOnlyToken = "node-only-token-0123456789abcdefghijklmnopq"

// startAuthOpsServer runs a server with auth on that knows token (admin
// everywhere) and nodeOnlyToken, and grants the certificate CN "cli" roles
// reader and client in "default"; over tlsCfg unless nil.
func startAuthOpsServer(t *testing.T, tlsCfg *tls.Config, token string) *server.Server {
	t.Helper()
	cfg, err := config.NewBuilder().WithMemory("memory", config.DefaultMemoryConfig(), true).Build()
	if err != nil {
		t.Fatal(err)
	}
	b := server.NewBuilder().WithListenAddress("127.0.0.1:0").WithAdminAddress("").WithPersistence(cfg).
		WithTimings(opsTimings()).WithLogger(slog.New(slog.DiscardHandler)).
		WithAuth(&config.AuthConfig{Mode: "on", Tokens: []string{auth.DigestLine("ops", token), auth.DigestLine("nodeonly", nodeOnlyToken)},
			Grants: []string{"ops=admin@*", "certificate:cli=reader@default", "certificate:cli=client@default", "nodeonly=node@default"}})
	if tlsCfg != nil {
		b = b.WithTLS(tlsCfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv, err := b.Build(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop(context.Background()) })
	return srv
}

// The TLS flags: a CA file, a client certificate (mTLS), the server name
// to verify; the token file over TLS and over plaintext loopback, refused
// over plaintext beyond loopback; the token never in any output.
func TestOpsTLSAndToken(t *testing.T) {
	const token = "ops-cli-token-0123456789abcdefghijklmnopqrs"
	dir := t.TempDir()
	p := authtest.NewPKI(t)
	serverCert := p.Issue(t, authtest.Names{CN: "orbit-server", DNS: []string{"orbit.internal"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	srv := startAuthOpsServer(t, &tls.Config{Certificates: []tls.Certificate{serverCert}, ClientCAs: p.Pool,
		ClientAuth: tls.VerifyClientCertIfGiven, MinVersion: tls.VersionTLS12}, token)
	addr := srv.Addr()
	caPath := writePEM(t, dir, "ca.pem", "CERTIFICATE", caDER(t, p))
	certPath, keyPath := writeCertPair(t, dir, "cli", p.Issue(t, authtest.Names{CN: "cli"}))
	tokenPath := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenPath, []byte("  "+token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	wrongPath := filepath.Join(dir, "wrong")
	const wrong = "wrong-token-0123456789abcdefghijklmnopqrstu"
	if err := os.WriteFile(wrongPath, []byte(wrong), 0o600); err != nil {
		t.Fatal(err)
	}
	var outputs []string
	check := func(code int, args ...string) string {
		t.Helper()
		out, errOut := wantExit(t, code, append(args, "--server", addr, "--timeout", "2s")...)
		outputs = append(outputs, out, errOut)
		return out + errOut
	}

	// Token over TLS: admin, so it may also place.
	joinTestNodeTLS(t, addr, p, token)
	check(0, "nodes", "list", "--tls-ca", caPath, "--token-file", tokenPath)
	check(0, "locate", "Greeter/alice", "--tls-ca", caPath, "--token-file", tokenPath)
	// mTLS: the certificate's roles.
	if out := check(0, "leases", "get", "Greeter/alice", "--tls-ca", caPath, "--tls-cert", certPath, "--tls-key", keyPath); !strings.Contains(out, "tls-node") {
		t.Errorf("leases get over mTLS: %s", out)
	}
	// The server name to verify: one the certificate has, one it has not.
	check(0, "nodes", "list", "--tls-ca", caPath, "--tls-server-name", "orbit.internal", "--token-file", tokenPath)
	check(1, "nodes", "list", "--tls-ca", caPath, "--tls-server-name", "other.example", "--token-file", tokenPath)
	// No identity, a wrong token, an untrusted server, plaintext to TLS.
	if out := check(1, "nodes", "list", "--tls-ca", caPath); !strings.Contains(out, "Unauthenticated") {
		t.Errorf("no identity: %s", out)
	}
	if out := check(1, "nodes", "list", "--tls-ca", caPath, "--token-file", wrongPath); !strings.Contains(out, "Unauthenticated") {
		t.Errorf("wrong token: %s", out)
	}
	check(1, "nodes", "list", "--tls-server-name", "orbit.internal", "--token-file", tokenPath) // system roots do not trust the test CA
	check(1, "nodes", "list", "--insecure", "--token-file", tokenPath)
	check(1, "nodes", "list", "--tls-ca", certPath+".missing", "--token-file", tokenPath)
	check(1, "nodes", "list", "--tls-ca", tokenPath, "--token-file", tokenPath) // not PEM
	check(1, "nodes", "list", "--tls-ca", caPath, "--token-file", tokenPath+".missing")

	// Plaintext: the token goes to loopback only.
	plain := startAuthOpsServer(t, nil, token)
	out, errOut := wantExit(t, 0, "nodes", "list", "--server", plain.Addr(), "--token-file", tokenPath)
	outputs = append(outputs, out, errOut)
	out, errOut = wantExit(t, 1, "nodes", "list", "--server", plain.Addr())
	outputs = append(outputs, out, errOut)
	out, errOut = wantExit(t, 2, "nodes", "list", "--server", "10.0.0.1:50051", "--insecure", "--token-file", tokenPath)
	outputs = append(outputs, out, errOut)
	if !strings.Contains(errOut, "refusing to send a bearer token over plaintext") || !strings.Contains(errOut, "10.0.0.1:50051") {
		t.Errorf("token over plaintext beyond loopback: stderr %q", errOut)
	}
	for _, o := range outputs {
		if strings.Contains(o, token) || strings.Contains(o, wrong) {
			t.Fatalf("a token appeared in the output: %q", o)
		}
	}
}

// caDER is the PKI's CA certificate, found as the issuer of a certificate
// it signs through the pool's subjects.
func caDER(t *testing.T, p *authtest.PKI) []byte {
	t.Helper()
	leaf := p.Issue(t, authtest.Names{CN: "probe"}).Leaf
	chains, err := leaf.Verify(x509.VerifyOptions{Roots: p.Pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil || len(chains) == 0 || len(chains[0]) < 2 {
		t.Fatalf("find the test CA: %v", err)
	}
	return chains[0][len(chains[0])-1].Raw
}

// joinTestNodeTLS joins node "tls-node" hosting Greeter over TLS with the
// admin token; the node is left when the test ends.
func joinTestNodeTLS(t *testing.T, addr string, p *authtest.PKI, token string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, addr, client.WithTLS(p.ClientTLS(nil)), client.WithBearerToken(token))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if _, err := c.Join(ctx, client.NodeOptions{Key: "tls-node", Capabilities: orbit.NodeCapabilities{AddressableTypes: []string{"Greeter"}}}); err != nil {
		t.Fatal(err)
	}
}
