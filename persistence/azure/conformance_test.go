package azure_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/orbit-go/orbit/internal/testbackend/azuritetest"
	"github.com/orbit-go/orbit/persistence/azure"
	"github.com/orbit-go/orbit/persistence/config"
	"github.com/orbit-go/orbit/persistence/driver"
	"github.com/orbit-go/orbit/persistence/drivertest"
)

var caps = []driver.Capability{driver.CapHealth, driver.CapCacheStats}

// azureConfig is the provider configuration of a test server: shared key
// on its endpoint, and a 120 s request timeout: on a loaded 2-core machine
// one Azurite listing of a container holding thousands of blobs once took
// more than the default 30 s four times in a row.
func azureConfig(srv *azuritetest.Server) config.AzureConfig {
	c := config.DefaultAzureConfig()
	c.Endpoint, c.AccountName, c.AccountKey, c.ContainerName = srv.Endpoint, srv.AccountName, srv.AccountKey, srv.Container
	c.ConnectionTimeout = 120
	return c
}

// openConfig opens a store with the driver's own configuration mapping,
// closed at cleanup.
func openConfig(t testing.TB, c config.AzureConfig) *azure.Store {
	t.Helper()
	o, err := azure.OptionsFromConfig(&c)
	if err != nil {
		t.Fatal(err)
	}
	s, err := azure.Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	return s
}

// harness runs every subtest against one Azurite, each in a container of
// its own and under its own prefix. The pagination test stores 2,000
// leases instead of 10,000: Azurite scans every blob of the account for
// each listing (its in-memory store has no prefix index), so a placement
// costs time linear in the blobs stored and storing 10,000 leases alone
// takes more than 10 minutes; 2,000 leases still list in many pages.
func harness(srv *azuritetest.Server) drivertest.Harness {
	var n atomic.Int64
	return drivertest.Harness{
		MakeStore: func(t *testing.T) driver.Store {
			c := azureConfig(srv)
			c.ContainerName = srv.NewContainer(t)
			c.Prefix = fmt.Sprintf("%s-%d", c.Prefix, n.Add(1))
			return openConfig(t, c)
		},
		Capabilities: caps,
		ManyLeases:   2000,
	}
}

// The whole suite against Azurite.
func TestConformance(t *testing.T) {
	drivertest.RunConformanceTests(t, harness(azuritetest.Start(t)))
}
