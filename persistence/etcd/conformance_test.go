package etcd_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orbit-go/orbit/internal/testbackend/etcdtest"
	"github.com/orbit-go/orbit/persistence/driver"
	"github.com/orbit-go/orbit/persistence/drivertest"
	"github.com/orbit-go/orbit/persistence/etcd"
)

var etcdCaps = []driver.Capability{driver.CapTransactions, driver.CapWatch, driver.CapHealth, driver.CapExpiry, driver.CapExpiryIndex, driver.CapCount}

// testOptions are the driver options of the tests: small TTL buckets, so
// that the native-expiry test sees deletions within seconds.
func testOptions(srv *etcdtest.Server) etcd.Options {
	return etcd.Options{
		Endpoints:      srv.Endpoints(),
		LeaseTTL:       5 * time.Second,
		DialTimeout:    5 * time.Second,
		RequestTimeout: 10 * time.Second,
	}
}

// openStore opens a store on srv under prefix, closed at cleanup.
func openStore(t testing.TB, o etcd.Options, prefix string) *etcd.Store {
	t.Helper()
	o.Prefix = prefix
	s, err := etcd.Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	return s
}

// harness runs every subtest on one shared server, each with its own prefix.
func harness(o etcd.Options, name string) drivertest.Harness {
	var n atomic.Int64
	return drivertest.Harness{
		MakeStore: func(t *testing.T) driver.Store {
			return openStore(t, o, fmt.Sprintf("%s-%d", name, n.Add(1)))
		},
		Capabilities: etcdCaps,
	}
}

func TestConformance(t *testing.T) {
	srv := etcdtest.Start(t)
	drivertest.RunConformanceTests(t, harness(testOptions(srv), "conf"))
}

// The whole suite again over TLS with a client certificate and etcd
// authentication, as a least-privileged user whose role may only read and
// write the keys under its prefix (docs/etcd.md, "Permissions").
func TestConformanceTLSAuth(t *testing.T) {
	srv := etcdtest.Start(t, etcdtest.WithTLS(), etcdtest.WithAuth())
	srv.AddUser(t, "orbit", "orbit-secret-pw", "tls-")
	o := testOptions(srv)
	o.TLS = srv.Certs.ClientTLS(t)
	o.Username, o.Password = "orbit", "orbit-secret-pw"
	drivertest.RunConformanceTests(t, harness(o, "tls"))
}
