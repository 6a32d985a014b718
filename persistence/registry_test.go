package persistence_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/orbit-go/orbit/persistence"
	"github.com/orbit-go/orbit/persistence/config"
	"github.com/orbit-go/orbit/persistence/driver"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestOpenRegistryFromConfig(t *testing.T) {
	cfg, err := config.NewBuilder().
		WithMemory("addr", config.DefaultMemoryConfig(), false).
		WithMemory("nodes", config.DefaultMemoryConfig(), false).
		WithDefaults("addr", "nodes").
		Build()
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	r, err := persistence.OpenRegistry(context.Background(), cfg, persistence.WithMetricsRegisterer(reg))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(context.Background())
	a, err := r.DefaultAddressableProvider()
	if err != nil || a.Name() != "addr" || a.Type() != "Memory" {
		t.Fatalf("default addressable provider = %v, %v", a, err)
	}
	c, err := r.DefaultClusterProvider()
	if err != nil || c.Name() != "nodes" {
		t.Fatalf("default cluster provider = %v, %v", c, err)
	}
	_, err = r.Provider("nope")
	if !errors.Is(err, persistence.ErrNotFound) || !strings.Contains(err.Error(), "addr, nodes") {
		t.Fatalf("unknown provider error %v must list the registered ones", err)
	}
	if err := r.Register("addr", a); !errors.Is(err, persistence.ErrInvalidArgument) {
		t.Fatalf("duplicate Register = %v", err)
	}
	// Operations are measured on the caller's Prometheus registry.
	if _, err := a.Addressables().List(context.Background(), persistence.PageRequest{}); err != nil {
		t.Fatal(err)
	}
	if n, err := testutil.GatherAndCount(reg, "orbit_persistence_operation_duration_seconds"); err != nil || n == 0 {
		t.Fatalf("no operation histogram on the caller's registry: %d, %v", n, err)
	}
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestOpenUnavailableAndUnknownTypes(t *testing.T) {
	cfg := config.DefaultEtcdConfig()
	cfg.Endpoints = []string{"http://127.0.0.1:2379"}
	_, err := persistence.Open(context.Background(), "etcd", &cfg)
	if !errors.Is(err, persistence.ErrNotAvailableInBuild) || !strings.Contains(err.Error(), `"etcd"`) || !strings.Contains(err.Error(), "Memory") {
		t.Fatalf("opening a provider type that is not compiled in = %v", err)
	}
	bad := config.DefaultMemoryConfig()
	bad.MaxEntries = -1
	if _, err := persistence.Open(context.Background(), "m", &bad); !errors.Is(err, persistence.ErrInvalidArgument) || !strings.Contains(err.Error(), "max_entries") {
		t.Fatalf("opening an invalid config = %v", err)
	}
}

func TestRegisterDriverTwicePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("RegisterDriver of an already registered type did not panic")
		}
	}()
	persistence.RegisterDriver(config.TypeMemory, func(context.Context, config.ProviderConfig, persistence.DriverEnv) (driver.Store, error) {
		return nil, nil
	})
}
