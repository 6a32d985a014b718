package redis_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/orbit-go/orbit/internal/testbackend/redistest"
	"github.com/orbit-go/orbit/persistence/config"
	"github.com/orbit-go/orbit/persistence/driver"
	"github.com/orbit-go/orbit/persistence/drivertest"
	"github.com/orbit-go/orbit/persistence/redis"
)

var (
	standaloneCaps = []driver.Capability{driver.CapTransactions, driver.CapHealth, driver.CapExpiry, driver.CapIndex, driver.CapBatch, driver.CapExpiryIndex, driver.CapCount}
	clusterCaps    = []driver.Capability{driver.CapHealth, driver.CapExpiry, driver.CapIndex, driver.CapBatch, driver.CapExpiryIndex, driver.CapCount}
)

// redisConfig is the provider configuration of a test: the defaults with
// the server's URL and a long request timeout (-race is slow).
func redisConfig(url string) config.RedisConfig {
	c := config.DefaultRedisConfig()
	c.URL, c.RequestTimeout = url, 30
	return c
}

// openConfig opens a store with the driver's own configuration mapping,
// closed at cleanup.
func openConfig(t testing.TB, c config.RedisConfig) driver.Store {
	t.Helper()
	o, err := redis.OptionsFromConfig(&c)
	if err != nil {
		t.Fatal(err)
	}
	s, err := redis.Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	return s
}

// harness runs every subtest on one server, each under its own prefix.
func harness(c config.RedisConfig, caps []driver.Capability) drivertest.Harness {
	var n atomic.Int64
	base := c.Prefix
	return drivertest.Harness{
		MakeStore: func(t *testing.T) driver.Store {
			c := c
			c.Prefix = fmt.Sprintf("%s-%d", base, n.Add(1))
			return openConfig(t, c)
		},
		Capabilities: caps,
	}
}

func TestConformance(t *testing.T) {
	srv := redistest.Start(t)
	drivertest.RunConformanceTests(t, harness(redisConfig(srv.URL()), standaloneCaps))
}

// The suite as an ACL user allowed only the keys of its prefix, over TLS
// with a client certificate (mTLS), with the credentials in config keys.
func TestConformanceACLOverMTLS(t *testing.T) {
	srv := redistest.Start(t, redistest.WithClientCertRequired(), redistest.WithACLUser("orbit", "acl-Secret-9", "{acl-*"))
	c := redisConfig(srv.URL())
	c.Prefix, c.Username, c.Password = "acl", "orbit", "acl-Secret-9"
	c.CACert, c.ClientCert, c.ClientKey = srv.Certs.CAFile, srv.Certs.ClientCertFile, srv.Certs.ClientKey
	drivertest.RunConformanceTests(t, harness(c, standaloneCaps))
}

// The suite over a unix socket with requirepass, database 3.
func TestConformanceUnixSocketPassword(t *testing.T) {
	srv := redistest.Start(t, redistest.WithUnixSocket(), redistest.WithPassword("unix-Secret-7"))
	c := redisConfig("unix://" + srv.Socket)
	c.Password, c.Database = "unix-Secret-7", 3
	drivertest.RunConformanceTests(t, harness(c, standaloneCaps))
	if n := srv.Do(t, "INFO", "keyspace"); !strings.Contains(n, "db3:") || strings.Contains(n, "db0:") {
		t.Fatalf("keys not in database 3 only: %s", n)
	}
}

// The suite against a real three-master Redis Cluster: keys spread over 16
// hash tags (no transactions), and again with one shard (transactions, all
// keys on one master).
func TestConformanceCluster(t *testing.T) {
	cl := redistest.Cluster(t, 3, redistest.WithPassword("cluster-Secret-5"))
	c := redisConfig("redis://" + cl.Addrs[0])
	c.ClusterMode, c.Password = true, "cluster-Secret-5"
	t.Run("Sharded", func(t *testing.T) {
		c := c
		c.Prefix = "sharded"
		drivertest.RunConformanceTests(t, harness(c, clusterCaps))
	})
	t.Run("OneShard", func(t *testing.T) {
		c := c
		c.Prefix, c.Shards = "one", 1
		drivertest.RunConformanceTests(t, harness(c, standaloneCaps))
	})
}
