package composite

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/orbit-go/orbit/persistence"
	"github.com/orbit-go/orbit/persistence/config"
	"github.com/orbit-go/orbit/persistence/driver"
)

func init() {
	persistence.RegisterDriver(config.TypeComposite, open)
}

// OptionsFromConfig maps the Composite configuration onto Options (without
// the two stores, which the caller opens).
func OptionsFromConfig(c *config.CompositeConfig) Options {
	o := Options{
		SyncInterval:        time.Duration(c.SyncInterval) * time.Second,
		HealthCheckInterval: time.Duration(c.HealthCheckInterval) * time.Second,
		FailoverThreshold:   c.FailoverThreshold,
		ManualFailback:      c.Failback == config.FailbackManual,
	}
	if c.Mirror == config.MirrorAsync {
		o.Mirror = Async
	}
	return o
}

func open(ctx context.Context, cfg config.ProviderConfig, env persistence.DriverEnv) (driver.Store, error) {
	c := cfg.(*config.CompositeConfig)
	o := OptionsFromConfig(c)
	o.PrimaryName, o.BackupName = env.Name+".primary", env.Name+".backup"
	var primary driver.Store
	primary, err := env.OpenNested(ctx, o.PrimaryName, c.Primary)
	if errors.Is(err, driver.ErrUnavailable) {
		// Start anyway: if the state record on the backup says the backup
		// is active, the composite serves from it; otherwise its health is
		// Unhealthy and Init fails as for any unreachable provider.
		env.Logger.Warn("composite: the primary is unreachable; opening it again in the background", "primary", o.PrimaryName, "error", err)
		primary = newLazyStore("primary "+o.PrimaryName, err, time.Second, func(ctx context.Context) (driver.Store, error) {
			return env.OpenNested(ctx, o.PrimaryName, c.Primary)
		})
	} else if err != nil {
		return nil, fmt.Errorf("primary: %w", err)
	}
	backup, err := env.OpenNested(ctx, o.BackupName, c.Backup)
	if err != nil {
		_ = primary.Close(ctx)
		return nil, fmt.Errorf("backup: %w", err)
	}
	o.Primary, o.Backup = primary, backup
	o.Clock, o.Logger, o.Registerer, o.Name = env.Clock, env.Logger, env.Registerer, env.Name
	if env.Events != nil {
		o.OnSwitch = func(from, to string, failover bool, reason string, generation uint64) {
			kind := "failback"
			if failover {
				kind = "failover"
			}
			env.Events(persistence.ProviderEvent{Kind: kind, From: from, To: to, Reason: reason, Generation: generation})
		}
	}
	s, err := Open(ctx, o)
	if err != nil {
		_ = primary.Close(ctx)
		_ = backup.Close(ctx)
		return nil, err
	}
	return s, nil
}
