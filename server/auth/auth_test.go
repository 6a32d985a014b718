package auth_test

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"

	orbitv1 "github.com/orbit-go/orbit/api/orbit/v1"
	"github.com/orbit-go/orbit/persistence/config"
	"github.com/orbit-go/orbit/server/auth"
	"github.com/orbit-go/orbit/server/auth/authtest"
)

func digests(t *testing.T, lines ...string) []config.TokenDigest {
	t.Helper()
	var out []config.TokenDigest
	for _, l := range lines {
		d, err := config.ParseTokenDigest(l)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, d)
	}
	return out
}

// A token matches the digest of its SHA-256 only; the token is never
// stored (NewToken's tokens are random, 43 characters).
func TestTokens(t *testing.T) {
	a, err := auth.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := auth.NewToken()
	if len(a) != 43 || a == b {
		t.Fatalf("NewToken: %q %q", a, b)
	}
	line := auth.DigestLine("robot", a)
	if strings.Contains(line, a) || !strings.HasPrefix(line, "robot:sha256:") {
		t.Fatalf("DigestLine = %q", line)
	}
	ts := auth.NewTokens(digests(t, auth.DigestLine("other", b), line))
	if name, ok := ts.Match(a); !ok || name != "robot" {
		t.Errorf("Match(a) = %q %v", name, ok)
	}
	for _, bad := range []string{"", a + "x", a[:42], line, strings.TrimPrefix(line, "robot:sha256:")} {
		if name, ok := ts.Match(bad); ok {
			t.Errorf("Match(%q) = %q: a digest or a near miss is no credential", bad, name)
		}
	}
}

// Token files: comments and blank lines skipped; a bad line is named by
// file and number, its content never shown.
func TestLoadTokenFile(t *testing.T) {
	f := filepath.Join(t.TempDir(), "tokens")
	good := auth.DigestLine("a", "tok-a")
	if err := os.WriteFile(f, []byte("# comment\n\n"+good+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ds, err := auth.LoadTokenFile(f)
	if err != nil || len(ds) != 1 || ds[0].Name != "a" {
		t.Fatalf("LoadTokenFile = %v %v", ds, err)
	}
	if err := os.WriteFile(f, []byte(good+"\nb:SuperSecretClearToken\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = auth.LoadTokenFile(f)
	if err == nil || !strings.Contains(err.Error(), f+":2:") || strings.Contains(err.Error(), "SuperSecret") ||
		!strings.Contains(err.Error(), "orbit-server token hash") {
		t.Fatalf("bad line: %v", err)
	}
	if _, err := auth.LoadTokenFile(f + ".missing"); err == nil || !strings.Contains(err.Error(), "tokens.missing") {
		t.Fatalf("missing file: %v", err)
	}
}

// The certificate identity is its SPIFFE ID, else first DNS SAN, else CN;
// only a verified chain identifies.
func TestCertificateName(t *testing.T) {
	p := authtest.NewPKI(t)
	for _, tc := range []struct {
		n    authtest.Names
		want string
	}{
		{authtest.Names{CN: "cn", DNS: []string{"a.example.org", "b"}, URI: []string{"https://x/y", "spiffe://example.org/ns/x/node"}}, "spiffe://example.org/ns/x/node"},
		{authtest.Names{CN: "cn", DNS: []string{"a.example.org", "b"}, URI: []string{"https://x/y"}}, "a.example.org"},
		{authtest.Names{CN: "cn"}, "cn"},
		{authtest.Names{}, ""},
	} {
		c := p.Issue(t, tc.n)
		if got := auth.CertificateName(c.Leaf); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.n, got, tc.want)
		}
		id, ok := auth.FromTLS(&tls.ConnectionState{PeerCertificates: []*x509.Certificate{c.Leaf}, VerifiedChains: [][]*x509.Certificate{{c.Leaf}}}, "1.2.3.4:5")
		if ok != (tc.want != "") || id.Name != tc.want || (ok && id.Kind != auth.Certificate) {
			t.Errorf("%+v: FromTLS = %+v %v", tc.n, id, ok)
		}
		if _, ok := auth.FromTLS(&tls.ConnectionState{PeerCertificates: []*x509.Certificate{c.Leaf}}, ""); ok {
			t.Errorf("%+v: an unverified certificate identifies", tc.n)
		}
	}
}

// Grants: exact names, a trailing '*', a kind restriction, namespace '*';
// admin includes every role; the other roles are distinct; anonymous has
// none.
func TestPolicy(t *testing.T) {
	var gs []config.AuthGrant
	for _, s := range []string{"spiffe://example.org/ns/prod/*=node@prod", "token:ci=client@x", "ops=admin@*", "*=reader@pub"} {
		g, err := config.ParseAuthGrant(s)
		if err != nil {
			t.Fatal(err)
		}
		gs = append(gs, g)
	}
	p := auth.NewPolicy(gs)
	node := auth.Identity{Kind: auth.Certificate, Name: "spiffe://example.org/ns/prod/n1"}
	ciTok := auth.Identity{Kind: auth.Token, Name: "ci"}
	ciCert := auth.Identity{Kind: auth.Certificate, Name: "ci"}
	ops := auth.Identity{Kind: auth.Token, Name: "ops"}
	anon := auth.Identity{Kind: auth.Anonymous}
	for _, tc := range []struct {
		id   auth.Identity
		role auth.Role
		ns   string
		want bool
	}{
		{node, auth.Node, "prod", true},
		{node, auth.Node, "dev", false},
		{node, auth.Client, "prod", false},
		{auth.Identity{Kind: auth.Certificate, Name: "spiffe://example.org/ns/prodx"}, auth.Node, "prod", false},
		{ciTok, auth.Client, "x", true},
		{ciCert, auth.Client, "x", false},
		{ciTok, auth.Client, auth.AnyNamespace, true},
		{ciTok, auth.Reader, "x", false},
		{ops, auth.Node, "anything", true},
		{ops, auth.Reader, auth.AnyNamespace, true},
		{ciCert, auth.Reader, "pub", true},
		{anon, auth.Reader, "pub", false},
	} {
		if got := p.Allows(tc.id, tc.role, tc.ns); got != tc.want {
			t.Errorf("Allows(%s, %s, %s) = %v, want %v", tc.id, tc.role, tc.ns, got, tc.want)
		}
	}
}

// The method -> role table (documented in docs/security-auth.md).
func TestRequiredRoles(t *testing.T) {
	for m, want := range map[string]auth.Role{
		orbitv1.NodeService_Join_FullMethodName:                      auth.Node,
		orbitv1.NodeService_RenewLease_FullMethodName:                auth.Node,
		orbitv1.NodeService_Leave_FullMethodName:                     auth.Node,
		orbitv1.NodeService_ListNodes_FullMethodName:                 auth.Reader,
		orbitv1.NodeService_WatchNodes_FullMethodName:                auth.Reader,
		orbitv1.AddressableService_LocateOrPlace_FullMethodName:      auth.Client,
		orbitv1.AddressableService_LocateOrPlaceBatch_FullMethodName: auth.Client,
		orbitv1.AddressableService_Lookup_FullMethodName:             auth.Client,
		orbitv1.AddressableService_RenewLease_FullMethodName:         auth.Node,
		orbitv1.AddressableService_Abandon_FullMethodName:            auth.Node,
		orbitv1.AddressableService_ListLeases_FullMethodName:         auth.Reader,
		"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo":  auth.Reader,
		"/grpc.health.v1.Health/Check":                               "",
		"/grpc.health.v1.Health/Watch":                               "",
		"/orbit.v1.AdminService/Remove":                              auth.Admin,
	} {
		if got := auth.RequiredRole(m); got != want {
			t.Errorf("%s requires %q, want %q", m, got, want)
		}
	}
}
