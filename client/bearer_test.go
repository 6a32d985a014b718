package client_test

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
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
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

const nodeToken = "node-token-0123456789abcdefghijklmnopqrstu"

// startAuthServer runs a server with auth on that knows nodeToken (roles
// node and client in "default"), over TLS when tlsCfg is set.
func startAuthServer(t *testing.T, tlsCfg *tls.Config) *server.Server {
	t.Helper()
	cfg, err := config.NewBuilder().WithMemory("memory", config.DefaultMemoryConfig(), true).Build()
	if err != nil {
		t.Fatal(err)
	}
	b := server.NewBuilder().WithListenAddress("127.0.0.1:0").WithPersistence(cfg).
		WithLogger(slog.New(slog.DiscardHandler)).WithAuth(&config.AuthConfig{Mode: "on",
		Tokens: []string{auth.DigestLine("n1", nodeToken)}, Grants: []string{"n1=node@default", "n1=client@default"}})
	if tlsCfg != nil {
		b = b.WithTLS(tlsCfg)
	}
	srv, err := b.Build(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop(context.Background()) })
	return srv
}

// A bearer token authenticates the client's calls over TLS (from the
// option or a file); it is not sent over plaintext unless explicitly
// allowed; without it the server refuses the call.
func TestBearerToken(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p := authtest.NewPKI(t)
	srv := startAuthServer(t, p.ServerTLS(t))
	types := client.NodeOptions{Capabilities: orbit.NodeCapabilities{AddressableTypes: []string{"Greeter"}}}

	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte(nodeToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, opt := range map[string]client.Option{"option": client.WithBearerToken(nodeToken), "file": client.WithBearerTokenFile(file)} {
		c, err := client.Dial(ctx, srv.Addr(), client.WithTLS(p.ClientTLS(nil)), opt)
		if err != nil {
			t.Fatal(err)
		}
		n, err := c.Join(ctx, types)
		if err != nil {
			t.Fatalf("%s: Join with a node token: %v", name, err)
		}
		if l, _, err := c.LocateOrPlace(ctx, greeter("b-"+name)); err != nil || l.Node != n.ID() {
			t.Fatalf("%s: LocateOrPlace: %+v %v", name, l, err)
		}
		c.Close()
	}

	c, err := client.Dial(ctx, srv.Addr(), client.WithTLS(p.ClientTLS(nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Join(ctx, types); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("Join without a token: %v, want Unauthenticated", err)
	}

	// Plaintext: the token stays home unless explicitly allowed.
	plain := startAuthServer(t, nil)
	_, err = client.Dial(ctx, plain.Addr(), client.WithBearerToken(nodeToken))
	if !errors.Is(err, orbit.ErrInvalidArgument) || !strings.Contains(err.Error(), "transport level security") || strings.Contains(err.Error(), nodeToken) {
		t.Fatalf("token over plaintext: %v, want Dial refusing", err)
	}
	c, err = client.Dial(ctx, plain.Addr(), client.WithInsecureBearerToken(nodeToken))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Join(ctx, types); err != nil {
		t.Fatalf("token over plaintext, explicitly allowed: %v", err)
	}

	for _, bad := range []client.Option{client.WithBearerToken(""), client.WithBearerToken("has space"), client.WithBearerTokenFile(file + ".missing")} {
		if _, err := client.Dial(ctx, srv.Addr(), bad); err == nil || strings.Contains(err.Error(), "has space") {
			t.Errorf("bad token option: %v", err)
		}
	}
}
