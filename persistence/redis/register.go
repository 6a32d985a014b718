package redis

import (
	"context"
	"fmt"
	"math/bits"
	"net/url"
	"strings"
	"time"

	"github.com/redis/rueidis"

	"github.com/orbit-go/orbit/persistence"
	"github.com/orbit-go/orbit/persistence/config"
	"github.com/orbit-go/orbit/persistence/driver"
	"github.com/orbit-go/orbit/persistence/internal/tlsfiles"
)

func init() {
	persistence.RegisterDriver(config.TypeRedis, open1)
}

func open1(ctx context.Context, cfg config.ProviderConfig, _ persistence.DriverEnv) (driver.Store, error) {
	o, err := OptionsFromConfig(cfg.(*config.RedisConfig))
	if err != nil {
		return nil, err
	}
	return Open(ctx, o)
}

// OptionsFromConfig maps the spec's Redis configuration onto Options:
//
//	url             → redis://[user[:password]@]host:port[/db], rediss:// (TLS)
//	                  or unix:///path/to/redis.sock
//	cluster_mode    → Cluster (the URL's host is a seed; the client discovers the nodes)
//	database        → SELECT (0..15; 0 in cluster mode); must agree with the URL's /db
//	username/password → AUTH (ACL user); override the URL's userinfo
//	prefix          → Prefix (hash tags "{<prefix>.<shard>}")
//	pool_size       → connections per node: the largest power of two ≤ pool_size
//	                  pipelined connections (at most 256), and as many for
//	                  blocking calls
//	retry_count     → RetryCount (reads only)
//	shards          → Shards
//	ca_cert, client_cert, client_key → TLS (rediss:// only)
//	dial_timeout    → connection and AUTH bound (seconds)
//	request_timeout → RequestTimeout (seconds)
//
// Errors wrap driver.ErrInvalidArgument, name the key, and never contain
// the URL or the password.
func OptionsFromConfig(c *config.RedisConfig) (Options, error) {
	u, err := url.Parse(c.URL)
	if err != nil {
		return Options{}, fmt.Errorf("redis: url: is not a valid URL: %w", driver.ErrInvalidArgument)
	}
	co, err := rueidis.ParseURL(c.URL)
	if err != nil {
		return Options{}, fmt.Errorf("redis: url: %s: %w", redactErr(err, passwordOf(u)), driver.ErrInvalidArgument)
	}
	addr := u.Host
	if u.Scheme == "unix" {
		addr = "unix:" + u.Path
	}
	if c.Database != 0 {
		if co.SelectDB != 0 && co.SelectDB != c.Database {
			return Options{}, fmt.Errorf("redis: database %d disagrees with database %d of the url: %w", c.Database, co.SelectDB, driver.ErrInvalidArgument)
		}
		co.SelectDB = c.Database
	}
	if c.ClusterMode && co.SelectDB != 0 {
		return Options{}, fmt.Errorf("redis: database must be 0 in cluster mode: %w", driver.ErrInvalidArgument)
	}
	if c.Username != "" {
		co.Username = c.Username
	}
	if c.Password != "" {
		co.Password = c.Password
	}
	if c.PoolSize > 0 {
		co.PipelineMultiplex = min(bits.Len(uint(c.PoolSize))-1, rueidis.MaxPipelineMultiplex)
		co.BlockingPoolSize = c.PoolSize
	}
	if c.DialTimeout > 0 {
		co.Dialer.Timeout = time.Duration(c.DialTimeout) * time.Second
	}
	if c.CACert != "" || c.ClientCert != "" {
		if u.Scheme != "rediss" {
			return Options{}, fmt.Errorf("redis: ca_cert/client_cert need a rediss:// url: %w", driver.ErrInvalidArgument)
		}
		tc, err := tlsfiles.Apply("redis", co.TLSConfig, c.CACert, c.ClientCert, c.ClientKey)
		if err != nil {
			return Options{}, err
		}
		co.TLSConfig = tc
	}
	retries := c.RetryCount
	if retries == 0 {
		retries = -1 // the configuration's 0 means no retry
	}
	return Options{
		Client:         co,
		Addr:           addr,
		Cluster:        c.ClusterMode,
		Prefix:         strings.TrimSpace(c.Prefix),
		Shards:         c.Shards,
		RetryCount:     retries,
		RequestTimeout: time.Duration(c.RequestTimeout) * time.Second,
	}, nil
}

func passwordOf(u *url.URL) string {
	if u.User == nil {
		return ""
	}
	p, _ := u.User.Password()
	return p
}
