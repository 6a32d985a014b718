package gcs_test

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	"github.com/orbit-go/orbit/internal/testbackend/gcstest"
	"github.com/orbit-go/orbit/persistence/config"
	"github.com/orbit-go/orbit/persistence/driver"
	"github.com/orbit-go/orbit/persistence/drivertest"
	"github.com/orbit-go/orbit/persistence/gcs"
)

var caps = []driver.Capability{driver.CapHealth, driver.CapCacheStats}

// gcsConfig is the provider configuration of a test server: an endpoint
// and no credentials_path, so no authentication.
func gcsConfig(srv *gcstest.Server) config.GoogleCloudConfig {
	c := config.DefaultGoogleCloudConfig()
	c.Endpoint, c.BucketName = srv.Endpoint, srv.Bucket
	return c
}

// openConfig opens a store with the driver's own configuration mapping,
// closed at cleanup.
func openConfig(t testing.TB, c config.GoogleCloudConfig) *gcs.Store {
	t.Helper()
	o, err := gcs.OptionsFromConfig(&c)
	if err != nil {
		t.Fatal(err)
	}
	s, err := gcs.Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	return s
}

// fullSuiteEnv set to 1 runs the conformance suite at its full size.
const fullSuiteEnv = "ORBIT_GCS_FULL_SUITE"

// harness runs every subtest against one server, each in a bucket of its
// own and under its own prefix.
//
// fake-gcs-server is slow with many objects: its memory backend scans
// every object of the bucket, formatting two strings per object, on each
// insert, read and delete, under one lock for the whole server, so a
// subtest's time grows with the square of the objects it stores.
//   - The single-activation race runs at full size (100 rounds of 32
//     racers), each round on a fresh bucket (RaceStorePerRound): 110 s with
//     -race on 2 busy cores, where one bucket for all rounds took 18 minutes.
//   - The pagination test stores 1,200 leases instead of 10,000 (more than
//     the 1,000 objects of one GCS listing page, so listings still span
//     pages): at 10,000 it would take about 20 minutes without -race, two
//     hours with it (extrapolated: its time grows as n^2.2).
//     ORBIT_GCS_FULL_SUITE=1 runs it at full size anyway.
func harness(srv *gcstest.Server) drivertest.Harness {
	var n atomic.Int64
	rounds, many := 0, 1200
	if os.Getenv(fullSuiteEnv) == "1" {
		many = 0 // the suite's default
	}
	return drivertest.Harness{
		RaceRounds:        rounds,
		Racers:            32,
		RaceStorePerRound: true,
		ManyLeases:        many,
		MakeStore: func(t *testing.T) driver.Store {
			c := gcsConfig(srv)
			c.BucketName = srv.NewBucket(t)
			c.Prefix = fmt.Sprintf("%s-%d", c.Prefix, n.Add(1))
			return openConfig(t, c)
		},
		Capabilities: caps,
	}
}

// The whole suite against fake-gcs-server (in process).
func TestConformance(t *testing.T) {
	drivertest.RunConformanceTests(t, harness(gcstest.Start(t)))
}
