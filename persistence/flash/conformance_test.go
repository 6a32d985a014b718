package flash_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/orbit-go/orbit/persistence/driver"
	"github.com/orbit-go/orbit/persistence/drivertest"
	"github.com/orbit-go/orbit/persistence/flash"
)

var flashCaps = []driver.Capability{driver.CapTransactions, driver.CapHealth, driver.CapIndex, driver.CapBatch, driver.CapCacheStats}

func openStore(t testing.TB, o flash.Options) *flash.Store {
	t.Helper()
	s, err := flash.Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	return s
}

func dirs(t testing.TB, n int) []string {
	base := t.TempDir()
	out := make([]string, n)
	for i := range out {
		out[i] = filepath.Join(base, fmt.Sprint("path", i))
	}
	return out
}

// The suite runs on synced stores (the default configuration): one path,
// and three paths with the default (majority) quorum.
func TestConformanceOnePath(t *testing.T) {
	drivertest.RunConformanceTests(t, drivertest.Harness{
		MakeStore: func(t *testing.T) driver.Store {
			return openStore(t, flash.Options{Paths: dirs(t, 1), Sync: true, Compression: "Lz4", CacheSize: 8 << 20})
		},
		Capabilities: flashCaps,
	})
}

func TestConformanceThreePaths(t *testing.T) {
	drivertest.RunConformanceTests(t, drivertest.Harness{
		MakeStore: func(t *testing.T) driver.Store {
			return openStore(t, flash.Options{Paths: dirs(t, 3), Sync: true, Compression: "Zstd", CacheSize: 8 << 20})
		},
		Capabilities: flashCaps,
	})
}
