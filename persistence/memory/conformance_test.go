package memory_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/orbit-go/orbit/persistence/driver"
	"github.com/orbit-go/orbit/persistence/drivertest"
	"github.com/orbit-go/orbit/persistence/memory"
)

var memoryCaps = []driver.Capability{driver.CapTransactions, driver.CapWatch, driver.CapHealth, driver.CapIndex, driver.CapExpiryIndex, driver.CapCount}

func TestConformance(t *testing.T) {
	drivertest.RunConformanceTests(t, drivertest.Harness{
		MakeStore: func(t *testing.T) driver.Store {
			s := memory.New(memory.Options{})
			t.Cleanup(func() { _ = s.Close(context.Background()) })
			return s
		},
		Capabilities: memoryCaps,
	})
}

// The suite also passes with the disk backup enabled and an entry limit.
func TestConformanceWithBackup(t *testing.T) {
	drivertest.RunConformanceTests(t, drivertest.Harness{
		MakeStore: func(t *testing.T) driver.Store {
			s, err := memory.Open(context.Background(), memory.Options{
				MaxEntries: 1_000_000, Uncounted: "x/",
				Backup: &memory.BackupOptions{Path: filepath.Join(t.TempDir(), "backup.orbit"), Compression: "Zstd"},
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Close(context.Background()) })
			return s
		},
		Capabilities: memoryCaps,
	})
}
