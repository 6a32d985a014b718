package memory

import (
	"context"
	"time"

	"github.com/orbit-go/orbit/persistence"
	"github.com/orbit-go/orbit/persistence/config"
	"github.com/orbit-go/orbit/persistence/driver"
)

func init() {
	persistence.RegisterDriver(config.TypeMemory, open)
}

// OptionsFromConfig maps the spec's Memory configuration onto Options.
func OptionsFromConfig(c *config.MemoryConfig) Options {
	o := Options{MaxEntries: c.MaxEntries, Uncounted: persistence.IndexKeyPrefix}
	if b := c.DiskBackup; b != nil {
		o.Backup = &BackupOptions{
			Path:        b.Path,
			Interval:    time.Duration(b.SyncInterval) * time.Second,
			Compression: string(b.Compression),
		}
	}
	return o
}

func open(ctx context.Context, cfg config.ProviderConfig, env persistence.DriverEnv) (driver.Store, error) {
	o := OptionsFromConfig(cfg.(*config.MemoryConfig))
	o.Logger = env.Logger
	if o.Backup != nil && env.CheckOnly {
		o.Backup.ReadOnly = true
	}
	return Open(ctx, o)
}
