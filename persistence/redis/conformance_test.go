package redis_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orbit-go/orbit/internal/testbackend/redistest"
	"github.com/orbit-go/orbit/persistence/config"
	"github.com/orbit-go/orbit/persistence/driver"
	"github.com/orbit-go/orbit/persistence/drivertest"
	"github.com/orbit-go/orbit/persistence/redis"
)

var standaloneCaps = []driver.Capability{driver.CapTransactions, driver.CapHealth, driver.CapTTL, driver.CapIndex, driver.CapBatch}

func openStore(t testing.TB, o redis.Options) driver.Store {
	t.Helper()
	s, err := redis.Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	return s
}

func harness(o redis.Options, name string, caps []driver.Capability) drivertest.Harness {
	var n atomic.Int64
	return drivertest.Harness{
		MakeStore: func(t *testing.T) driver.Store {
			o := o
			o.Prefix = fmt.Sprintf("%s-%d", name, n.Add(1))
			return openStore(t, o)
		},
		Capabilities: caps,
	}
}

func TestConformance(t *testing.T) {
	srv := redistest.Start(t)
	drivertest.RunConformanceTests(t, harness(optionsFor(t, srv.URL()), "conf", standaloneCaps))
}

// optionsFor maps a URL with the driver's own config mapping.
func optionsFor(t testing.TB, url string) redis.Options {
	t.Helper()
	c := config.DefaultRedisConfig()
	c.URL = url
	o, err := redis.OptionsFromConfig(&c)
	if err != nil {
		t.Fatal(err)
	}
	o.RequestTimeout = 10 * time.Second
	return o
}
