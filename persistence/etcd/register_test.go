package etcd_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/orbit-go/orbit/internal/testbackend"
	"github.com/orbit-go/orbit/internal/testbackend/etcdtest"
	"github.com/orbit-go/orbit/persistence"
	"github.com/orbit-go/orbit/persistence/config"
	"github.com/orbit-go/orbit/persistence/driver"
	"github.com/orbit-go/orbit/persistence/etcd"
)

func etcdConfig(endpoints []string, prefix string) *config.EtcdConfig {
	c := config.DefaultEtcdConfig()
	c.Endpoints, c.Prefix, c.LeaseTTL = endpoints, prefix, 5
	return &c
}

// The provider type "Etcd" opens from its configuration, over TLS with a
// client certificate and a password, and works through the persistence API.
func TestOpenFromConfigTLSAuth(t *testing.T) {
	srv := etcdtest.Start(t, etcdtest.WithTLS(), etcdtest.WithAuth())
	srv.AddUser(t, "orbit", "s3cret-Pa55", "cfg/")
	c := etcdConfig(srv.Endpoints(), "cfg")
	c.Username, c.Password = "orbit", "s3cret-Pa55"
	c.CACert, c.ClientCert, c.ClientKey = srv.Certs.CAFile, srv.Certs.ClientCertFile, srv.Certs.ClientKey
	ctx := context.Background()
	p, err := persistence.Open(ctx, "etcd", c)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx)
	if p.Type() != "Etcd" || p.Capabilities().String() != "count,expiry,expiry-index,health,transactions,watch" {
		t.Fatalf("provider type %s, capabilities %s", p.Type(), p.Capabilities())
	}
	l, err := p.Addressables().Place(ctx, ref("cfg"), node("n1"), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := p.Addressables().Get(ctx, ref("cfg")); err != nil || !got.Equal(l) {
		t.Fatalf("Get = %+v, %v", got, err)
	}
	if h := p.HealthCheck(ctx); h.Status != persistence.Healthy {
		t.Fatalf("health = %s (%s)", h.Status, h.Reason)
	}

	// A wrong password fails to open, without showing it.
	c.Password = "wrong-Pa55word"
	c.DialTimeout = 3
	_, err = persistence.Open(ctx, "etcd", c)
	if !errors.Is(err, persistence.ErrUnavailable) || strings.Contains(err.Error(), c.Password) {
		t.Fatalf("open with a wrong password = %v, want ErrUnavailable without the password", err)
	}
	t.Logf("wrong password: %v", err)
	// A user whose role does not cover the prefix is told so.
	c.Password, c.Prefix = "s3cret-Pa55", "elsewhere"
	p2, err := persistence.Open(ctx, "etcd", c)
	if err == nil {
		p2.Close(ctx)
		t.Fatal("open on a prefix outside the user's role succeeded")
	}
	if !strings.Contains(err.Error(), "permission denied") || strings.Contains(err.Error(), c.Password) {
		t.Fatalf("open outside the role = %v", err)
	}
	t.Logf("outside the role: %v", err)
	// Without the client certificate the server refuses the connection.
	c.Prefix, c.ClientCert, c.ClientKey, c.RequestTimeout = "cfg", "", "", 2
	if _, err := persistence.Open(ctx, "etcd", c); !errors.Is(err, persistence.ErrUnavailable) {
		t.Fatalf("open without a client certificate = %v, want ErrUnavailable", err)
	} else {
		t.Logf("no client certificate: %v", err)
	}
}

func TestOptionsFromConfig(t *testing.T) {
	certs := testbackend.NewCerts(t, "client")
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	ok := etcdConfig([]string{"https://127.0.0.1:2379"}, "p/")
	ok.CACert, ok.ClientCert, ok.ClientKey = certs.CAFile, certs.ClientCertFile, certs.ClientKey
	ok.DialTimeout, ok.RequestTimeout = 7, 9
	o, err := etcd.OptionsFromConfig(ok)
	if err != nil {
		t.Fatal(err)
	}
	if o.TLS == nil || o.TLS.RootCAs == nil || len(o.TLS.Certificates) != 1 || o.DialTimeout != 7*time.Second ||
		o.RequestTimeout != 9*time.Second || o.LeaseTTL != 5*time.Second || o.Prefix != "p/" {
		t.Fatalf("options = %+v", o)
	}
	plain, err := etcd.OptionsFromConfig(etcdConfig([]string{"127.0.0.1:2379"}, ""))
	if err != nil || plain.TLS != nil || !plain.NoPrefix {
		t.Fatalf("plain options = %+v, %v", plain, err)
	}
	if o, err := etcd.OptionsFromConfig(etcdConfig([]string{"https://etcd.example:2379"}, "x")); err != nil || o.TLS == nil {
		t.Fatalf("https:// without ca_cert must use TLS with the system roots: %+v, %v", o, err)
	}
	bad := []struct {
		name, key string
		mutate    func(c *config.EtcdConfig)
	}{
		{"missing CA file", "ca_cert", func(c *config.EtcdConfig) { c.CACert = filepath.Join(dir, "absent.crt") }},
		{"CA file without PEM", "ca_cert", func(c *config.EtcdConfig) { c.CACert = notPEM }},
		{"bad client key", "client_key", func(c *config.EtcdConfig) { c.ClientKey = notPEM }},
		{"http with TLS", "endpoints", func(c *config.EtcdConfig) { c.Endpoints = []string{"http://127.0.0.1:2379"} }},
		{"mixed schemes", "endpoints", func(c *config.EtcdConfig) {
			c.Endpoints = []string{"https://127.0.0.1:2379", "http://127.0.0.1:2380"}
		}},
	}
	for _, b := range bad {
		c := *ok
		b.mutate(&c)
		if _, err := etcd.OptionsFromConfig(&c); !errors.Is(err, driver.ErrInvalidArgument) || !strings.Contains(err.Error(), b.key) {
			t.Errorf("%s: %v, want ErrInvalidArgument naming %s", b.name, err, b.key)
		}
	}
}

// An unreachable cluster: Open succeeds (it does not wait), requests fail
// with ErrUnavailable within the request timeout, health is Unhealthy.
func TestUnreachable(t *testing.T) {
	port := testbackend.FreePorts(t, 1)[0]
	o := etcd.Options{Endpoints: []string{"127.0.0.1:" + strconv.Itoa(port)}, RequestTimeout: time.Second, Password: "never-shown"}
	s, err := etcd.Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	start := time.Now()
	_, err = s.Get(context.Background(), "k")
	if !errors.Is(err, driver.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 3*time.Second {
		t.Fatalf("Get on an unreachable cluster = %v after %s", err, time.Since(start))
	}
	if h := s.HealthCheck(context.Background()); h.Status != driver.Unhealthy || strings.Contains(h.Reason, "never-shown") {
		t.Fatalf("health = %s (%s), want Unhealthy", h.Status, h.Reason)
	}
}
