package redis_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/orbit-go/orbit/internal/testbackend/redistest"
	"github.com/orbit-go/orbit/persistence"
	"github.com/orbit-go/orbit/persistence/config"
	"github.com/orbit-go/orbit/persistence/redis"
)

// Bad configurations are refused before any connection, naming the key,
// never showing the password of the URL.
func TestOptionsFromConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(c *config.RedisConfig)
		want string
	}{
		{"ca_cert unreadable", func(c *config.RedisConfig) { c.URL, c.CACert = "rediss://h:6380", "/nonexistent/ca.pem" }, "ca_cert"},
		{"ca_cert without rediss", func(c *config.RedisConfig) { c.CACert = "/etc/ssl/certs/ca-certificates.crt" }, "rediss://"},
		{"client cert without key", func(c *config.RedisConfig) { c.URL, c.ClientCert = "rediss://h:6380", "/x.pem" }, "client_key"},
		{"database disagrees with the url", func(c *config.RedisConfig) { c.URL, c.Database = "redis://:pw-Secret@h:6379/2", 3 }, "database 3"},
		{"database in cluster mode", func(c *config.RedisConfig) { c.URL, c.ClusterMode = "redis://:pw-Secret@h:6379/2", true }, "cluster mode"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := config.DefaultRedisConfig()
			tc.edit(&c)
			_, err := redis.OptionsFromConfig(&c)
			if !errors.Is(err, persistence.ErrInvalidArgument) || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "pw-Secret") {
				t.Fatalf("err = %v, want ErrInvalidArgument naming %q without the password", err, tc.want)
			}
		})
	}
}

// A wrong password fails to open with ErrUnavailable and a hint, without
// the password; cluster_mode against a standalone server is refused
// clearly instead of silently using one node.
func TestOpenErrors(t *testing.T) {
	srv := redistest.Start(t, redistest.WithPassword("right-Secret-1"))
	ctx := context.Background()
	c := redisConfig(srv.URL())
	c.Password = "wrong-Secret-2"
	_, err := persistence.Open(ctx, "r", &c)
	if !errors.Is(err, persistence.ErrUnavailable) || strings.Contains(err.Error(), "wrong-Secret-2") || !strings.Contains(err.Error(), srv.Addr) {
		t.Fatalf("open with a wrong password = %v", err)
	}
	c.Password, c.ClusterMode = "right-Secret-1", true
	_, err = persistence.Open(ctx, "r", &c)
	if !errors.Is(err, persistence.ErrInvalidArgument) || !strings.Contains(err.Error(), "not a Redis Cluster") {
		t.Fatalf("cluster_mode against a standalone server = %v", err)
	}
	c.ClusterMode = false
	p, err := persistence.Open(ctx, "r", &c)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx)
	if got := p.Capabilities().String(); got != "batch,count,expiry,expiry-index,health,index,transactions" {
		t.Fatalf("capabilities = %s", got)
	}
}
