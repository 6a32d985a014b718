package client_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"log/slog"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/orbit-go/orbit"
	"github.com/orbit-go/orbit/client"
	"github.com/orbit-go/orbit/persistence/config"
	"github.com/orbit-go/orbit/server"
)

// selfSigned returns a certificate for 127.0.0.1 and a pool trusting it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "orbit-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

func TestTLS(t *testing.T) {
	cert, pool := selfSigned(t)
	cfg, err := config.NewBuilder().WithMemory("memory", config.DefaultMemoryConfig(), true).Build()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv, err := server.NewBuilder().WithListenAddress("127.0.0.1:0").WithPersistence(cfg).
		WithTLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}).
		WithLogger(slog.New(slog.DiscardHandler)).Build(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.Stop(context.Background()) }()

	c, err := client.Dial(ctx, srv.Addr(), client.WithTLS(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}))
	if err != nil {
		t.Fatalf("Dial with TLS: %v", err)
	}
	defer c.Close()
	n, err := c.Join(ctx, client.NodeOptions{Capabilities: orbit.NodeCapabilities{AddressableTypes: []string{"Greeter"}}})
	if err != nil {
		t.Fatalf("Join over TLS: %v", err)
	}
	if l, _, err := c.LocateOrPlace(ctx, greeter("tls")); err != nil || l.Node != n.ID() {
		t.Fatalf("LocateOrPlace over TLS: %+v, %v", l, err)
	}

	// A client that does not trust the certificate cannot connect; nor can
	// a plaintext one.
	short, cancelShort := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancelShort()
	if _, err := client.Dial(short, srv.Addr(), client.WithTLS(&tls.Config{MinVersion: tls.VersionTLS12})); !errors.Is(err, orbit.ErrUnavailable) {
		t.Fatalf("Dial with untrusted cert: %v, want ErrUnavailable", err)
	}
	short2, cancelShort2 := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancelShort2()
	if _, err := client.Dial(short2, srv.Addr()); !errors.Is(err, orbit.ErrUnavailable) {
		t.Fatalf("plaintext Dial to a TLS server: %v, want ErrUnavailable", err)
	}
}
