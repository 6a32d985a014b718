package s3_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/orbit-go/orbit/internal/testbackend/s3test"
	"github.com/orbit-go/orbit/persistence/config"
	"github.com/orbit-go/orbit/persistence/driver"
	"github.com/orbit-go/orbit/persistence/drivertest"
	"github.com/orbit-go/orbit/persistence/s3"
)

var caps = []driver.Capability{driver.CapHealth, driver.CapCacheStats}

// s3Config is the provider configuration of a test server.
func s3Config(srv *s3test.Server) config.S3Config {
	c := config.DefaultS3Config()
	c.Endpoint, c.EnableSSL, c.Region, c.Bucket = srv.Endpoint, false, srv.Region, srv.Bucket
	c.AccessKeyID, c.SecretAccessKey = srv.AccessKey, srv.SecretKey
	return c
}

// openConfig opens a store with the driver's own configuration mapping,
// closed at cleanup.
func openConfig(t testing.TB, c config.S3Config) *s3.Store {
	t.Helper()
	o, err := s3.OptionsFromConfig(&c)
	if err != nil {
		t.Fatal(err)
	}
	s, err := s3.Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	return s
}

// harness runs every subtest against one server, each in a bucket of its
// own (gofakes3 lists in time linear in the bucket's size) and under its
// own prefix.
func harness(srv *s3test.Server) drivertest.Harness {
	var n atomic.Int64
	return drivertest.Harness{
		MakeStore: func(t *testing.T) driver.Store {
			c := s3Config(srv)
			c.Bucket = srv.NewBucket(t)
			c.Prefix = fmt.Sprintf("%s-%d", c.Prefix, n.Add(1))
			return openConfig(t, c)
		},
		Capabilities: caps,
	}
}

// The whole suite against gofakes3 (in process) and versitygw (a
// standalone server).
func TestConformance(t *testing.T) {
	s3test.Each(t, func(t *testing.T, srv *s3test.Server) {
		drivertest.RunConformanceTests(t, harness(srv))
	})
}
