package kubernetes_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/orbit-go/orbit/internal/testbackend/kubetest"
	"github.com/orbit-go/orbit/persistence/driver"
	"github.com/orbit-go/orbit/persistence/drivertest"
	"github.com/orbit-go/orbit/persistence/kubernetes"
)

var kubeCaps = []driver.Capability{driver.CapHealth, driver.CapWatch}

// testQPS is the client-side rate limit of the tests: well above what one
// API server on the test machine serves, so that it never slows a test.
const testQPS = 2000

// openStore opens a store with o, closed at cleanup.
func openStore(t testing.TB, o kubernetes.Options) *kubernetes.Store {
	t.Helper()
	if o.RequestTimeout == 0 {
		o.RequestTimeout = 60 * time.Second
	}
	if o.QPS == 0 {
		o.QPS, o.Burst = testQPS, 2*testQPS
	}
	s, err := kubernetes.Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	return s
}

// harness runs every subtest in namespace ns of one shared API server,
// each with its own config_map_name (so its own shards).
func harness(cfg *rest.Config, ns, name string) drivertest.Harness {
	var n atomic.Int64
	return drivertest.Harness{
		MakeStore: func(t *testing.T) driver.Store {
			return openStore(t, kubernetes.Options{RESTConfig: cfg, Namespace: ns, Name: fmt.Sprintf("%s-%d", name, n.Add(1))})
		},
		Capabilities: kubeCaps,
	}
}

// The whole suite (100 rounds of 32 racing placers, 10,000 leases) against
// a real kube-apiserver and etcd, as an administrator (AlwaysAllow).
func TestConformance(t *testing.T) {
	srv := kubetest.Start(t)
	ns := srv.Namespace(t, "conf")
	drivertest.RunConformanceTests(t, harness(srv.AdminConfig(), ns, "conf"))
}
