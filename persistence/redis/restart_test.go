package redis_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/orbit-go/orbit/internal/testbackend/redistest"
	"github.com/orbit-go/orbit/persistence"
	"github.com/orbit-go/orbit/persistence/config"
	"github.com/orbit-go/orbit/persistence/driver"
)

func ref(key string) persistence.AddressableReference {
	return persistence.AddressableReference{Namespace: "default", Type: "Greeter", Key: persistence.StringKey(key)}
}

func node(key string) persistence.NodeID { return persistence.NodeID{Namespace: "default", Key: key} }

// openProvider opens the "Redis" provider type from its configuration.
func openProvider(t testing.TB, c config.RedisConfig) persistence.Provider {
	t.Helper()
	ctx := context.Background()
	p, err := persistence.Open(ctx, "redis", &c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close(ctx) })
	return p
}

// waitHealth polls the provider's health until it is want (bounded).
func waitHealth(t *testing.T, p persistence.Provider, want driver.HealthStatus) persistence.Health {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		h := p.HealthCheck(context.Background())
		if h.Status == want {
			return h
		}
		if time.Now().After(deadline) {
			t.Fatalf("health = %s (%s), want %s", h.Status, h.Reason, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// redis-server killed (SIGKILL) under an open provider and restarted: with
// AOF and appendfsync always, no lease acknowledged before the kill is
// lost; while it is down, operations fail with ErrUnavailable and health is
// Unhealthy; once it is back, the same provider (no restart of Orbit)
// becomes Healthy and operates again.
func TestKillRestartWithPersistence(t *testing.T) {
	srv := redistest.Start(t, redistest.WithPersistence())
	c := redisConfig(srv.URL())
	c.RequestTimeout = 2
	p := openProvider(t, c)
	ctx := context.Background()
	a := p.Addressables()
	placed := map[string]persistence.AddressableLease{}
	for i := range 200 {
		l, err := a.Place(ctx, ref(fmt.Sprint("k", i)), node("n1"), time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		placed[fmt.Sprint("k", i)] = l
	}
	waitHealth(t, p, persistence.Healthy)

	srv.Kill(t)
	if _, err := a.Place(ctx, ref("during"), node("n1"), time.Hour); !errors.Is(err, persistence.ErrUnavailable) {
		t.Fatalf("Place while redis-server is down = %v, want ErrUnavailable", err)
	}
	if _, err := a.Get(ctx, ref("k1")); !errors.Is(err, persistence.ErrUnavailable) {
		t.Fatalf("Get while redis-server is down = %v, want ErrUnavailable", err)
	}
	h := waitHealth(t, p, persistence.Unhealthy)
	if !strings.Contains(h.Reason, srv.Addr) {
		t.Fatalf("unhealthy reason %q does not name %s", h.Reason, srv.Addr)
	}

	srv.Restart(t)
	waitHealth(t, p, persistence.Healthy)
	for k, want := range placed {
		got, err := a.Get(ctx, ref(k))
		if err != nil || !got.Equal(want) {
			t.Fatalf("after restart %s = %+v, %v; want %+v", k, got, err, want)
		}
	}
	// Still single activation after the restart: the holder renews, another
	// node cannot place.
	if _, err := a.Renew(ctx, ref("k1"), node("n1"), placed["k1"].Epoch, time.Hour); err != nil {
		t.Fatalf("renew after restart: %v", err)
	}
	var lc *persistence.LeaseConflictError
	if _, err := a.Place(ctx, ref("k1"), node("n2"), time.Hour); !errors.As(err, &lc) {
		t.Fatalf("place by another node after restart = %v, want a lease conflict", err)
	}
	if _, err := a.Place(ctx, ref("after"), node("n1"), time.Hour); err != nil {
		t.Fatalf("place after restart: %v", err)
	}
}

// Without persistence a restarted redis-server is empty: every lease is
// lost (docs/redis.md says so), but the provider recovers by itself.
func TestKillRestartWithoutPersistence(t *testing.T) {
	srv := redistest.Start(t)
	c := redisConfig(srv.URL())
	c.RequestTimeout = 2
	p := openProvider(t, c)
	ctx := context.Background()
	if _, err := p.Addressables().Place(ctx, ref("gone"), node("n1"), time.Hour); err != nil {
		t.Fatal(err)
	}
	srv.Kill(t)
	srv.Restart(t)
	waitHealth(t, p, persistence.Healthy)
	if _, err := p.Addressables().Get(ctx, ref("gone")); !errors.Is(err, persistence.ErrNotFound) {
		t.Fatalf("Get after a restart without persistence = %v, want ErrNotFound", err)
	}
	if _, err := p.Addressables().Place(ctx, ref("gone"), node("n2"), time.Hour); err != nil {
		t.Fatalf("place after restart: %v", err)
	}
}

// A master of the cluster killed: health is Unhealthy naming it; back, the
// provider is Healthy and operates on every slot again.
func TestClusterMasterKilled(t *testing.T) {
	cl := redistest.Cluster(t, 3)
	c := redisConfig("redis://" + cl.Addrs[0])
	c.ClusterMode, c.RequestTimeout = true, 2
	p := openProvider(t, c)
	ctx := context.Background()
	for i := range 50 {
		if _, err := p.Addressables().Place(ctx, ref(fmt.Sprint("c", i)), node("n1"), time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	victim := cl.Nodes[2]
	victim.Kill(t)
	h := waitHealth(t, p, persistence.Unhealthy)
	if !strings.Contains(h.Reason, victim.Addr) {
		t.Fatalf("unhealthy reason %q does not name %s", h.Reason, victim.Addr)
	}
	victim.Restart(t)
	cl.WaitOK(t)
	waitHealth(t, p, persistence.Healthy)
	deadline := time.Now().Add(20 * time.Second)
	for i := 50; i < 100; i++ {
		_, err := p.Addressables().Place(ctx, ref(fmt.Sprint("c", i)), node("n1"), time.Hour)
		if err != nil && time.Now().Before(deadline) {
			i-- // the client may still be refreshing its slot map
			time.Sleep(100 * time.Millisecond)
			continue
		}
		if err != nil {
			t.Fatalf("place after the master came back: %v", err)
		}
	}
}
