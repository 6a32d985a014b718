package etcd

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/orbit-go/orbit/persistence"
	"github.com/orbit-go/orbit/persistence/config"
	"github.com/orbit-go/orbit/persistence/driver"
	"github.com/orbit-go/orbit/persistence/internal/tlsfiles"
)

func init() {
	persistence.RegisterDriver(config.TypeEtcd, open)
}

func open(ctx context.Context, cfg config.ProviderConfig, env persistence.DriverEnv) (driver.Store, error) {
	o, err := OptionsFromConfig(cfg.(*config.EtcdConfig))
	if err != nil {
		return nil, err
	}
	if env.Logger != nil && env.Logger.Enabled(ctx, slog.LevelDebug) {
		o.Logger = zap.New(newSlogCore(env.Logger))
	}
	return Open(ctx, o)
}

// OptionsFromConfig maps the spec's etcd configuration onto Options:
//
//	endpoints        → Endpoints (one scheme for all; https:// or host:port with TLS)
//	prefix           → Prefix ("" = keys at the root of the keyspace)
//	lease_ttl        → LeaseTTL (seconds): TTL buckets of lease_ttl/10, at least 5 s
//	username/password → Username, Password (etcd auth)
//	ca_cert          → TLS: the PEM CA bundle that verifies the servers
//	client_cert/key  → TLS client certificate (mTLS)
//	dial_timeout     → DialTimeout (seconds, 0 = none)
//	request_timeout  → RequestTimeout (seconds, 0 = none)
//
// TLS is enabled by ca_cert, a client certificate or https:// endpoints
// (without ca_cert the system roots verify the servers). Unreadable or
// invalid PEM files and an http:// endpoint with TLS settings are errors
// wrapping driver.ErrInvalidArgument that name the key; no error contains
// the password.
func OptionsFromConfig(c *config.EtcdConfig) (Options, error) {
	o := Options{
		Endpoints:      append([]string(nil), c.Endpoints...),
		Prefix:         c.Prefix,
		NoPrefix:       c.Prefix == "",
		Username:       c.Username,
		Password:       c.Password,
		LeaseTTL:       time.Duration(c.LeaseTTL) * time.Second,
		DialTimeout:    time.Duration(c.DialTimeout) * time.Second,
		RequestTimeout: time.Duration(c.RequestTimeout) * time.Second,
	}
	https, http := 0, 0
	for _, e := range c.Endpoints {
		switch {
		case strings.HasPrefix(e, "https://"):
			https++
		case strings.HasPrefix(e, "http://"):
			http++
		}
	}
	if https > 0 && http > 0 {
		return Options{}, fmt.Errorf("etcd: endpoints: mix http:// and https://; use one scheme: %w", driver.ErrInvalidArgument)
	}
	wantTLS := c.CACert != "" || c.ClientCert != "" || https > 0
	if !wantTLS {
		return o, nil
	}
	if http > 0 {
		return Options{}, fmt.Errorf("etcd: endpoints: use https:// (or host:port) when ca_cert or client_cert is set: %w", driver.ErrInvalidArgument)
	}
	tc, err := tlsfiles.Apply("etcd", nil, c.CACert, c.ClientCert, c.ClientKey)
	if err != nil {
		return Options{}, err
	}
	o.TLS = tc
	return o, nil
}
