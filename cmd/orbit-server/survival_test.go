package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orbit-go/orbit"
	"github.com/orbit-go/orbit/client"
	"github.com/orbit-go/orbit/internal/testbackend/etcdtest"
	"github.com/orbit-go/orbit/internal/testbackend/redistest"
)

// A node joined through a client that knows all three servers keeps its
// membership lease — same incarnation, OnLeaseLost never called — while
// the servers are SIGKILLed and restarted one at a time (each stays dead
// longer than the node lease TTL, so renewals must go through the others)
// and, on Redis, while redis-server (AOF, fsync always) is down for 1.8 s.
// A caller locating the node's addressables all along sees no error while
// a server dies, and only Unavailable while the backend itself is down.
// Default timings: 3 s node lease, renewal every 500 ms.
func TestNodeSurvivesServerDeaths(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs orbit-server processes")
	}
	bin := buildServer(t)
	t.Run("etcd", func(t *testing.T) {
		etcd := etcdtest.Start(t)
		cfg := fmt.Sprintf("[providers.etcd]\ntype = \"Etcd\"\nendpoints = [%q]\nprefix = \"survive-%d\"\n", etcd.Endpoints()[0], time.Now().UnixNano())
		survive(t, bin, cfg, nil)
	})
	t.Run("redis", func(t *testing.T) {
		redis := redistest.Start(t, redistest.WithPersistence())
		cfg := fmt.Sprintf("[providers.redis]\ntype = \"Redis\"\nurl = %q\nprefix = \"survive-%d\"\n", redis.URL(), time.Now().UnixNano())
		survive(t, bin, cfg, func() {
			redis.Kill(t)
			time.Sleep(1800 * time.Millisecond)
			redis.Restart(t)
		})
	})
}

// survive runs the scenario on the backend of cfg; backendBlip, if not
// nil, takes the backend down and up again.
func survive(t *testing.T, bin, cfg string, backendBlip func()) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "orbit.toml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	servers := make([]*serverProcess, 3)
	addrs := make([]string, 3)
	for i := range servers {
		servers[i] = startServerProcess(t, bin, fmt.Sprintf("server %d", i), "serve", "--config", cfgPath,
			"--listen", freeAddr(t), "--admin-addr", "", "--log-level", "warn")
		addrs[i] = servers[i].addr
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := client.Dial(ctx, strings.Join(addrs, ","), client.WithConnectTimeout(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var lostMu sync.Mutex
	var lost []error
	n, err := c.Join(ctx, client.NodeOptions{
		URL: "grpc://127.0.0.1:9000", Capabilities: orbit.NodeCapabilities{AddressableTypes: []string{"Greeter"}},
		OnLeaseLost: func(err error) { lostMu.Lock(); lost = append(lost, err); lostMu.Unlock() },
	})
	if err != nil {
		t.Fatal(err)
	}
	incarnation := n.Lease().Incarnation

	// The caller: locates the node's addressables, each call with a
	// deadline (so it waits for a ready server during a failover).
	var phase sync.Map // "backend" while the backend is down
	var callErrs, backendErrs []error
	var callMu sync.Mutex
	calls := 0
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		r := rand.New(rand.NewPCG(1, 2))
		for {
			select {
			case <-stop:
				return
			default:
			}
			ref := orbit.AddressableReference{Type: "Greeter", Key: orbit.StringKey(fmt.Sprint("k", r.IntN(50)))}
			callCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
			_, _, err := c.LocateOrPlace(callCtx, ref)
			cancel()
			_, backendDown := phase.Load("backend")
			callMu.Lock()
			calls++
			switch {
			case err == nil:
			case backendDown && errors.Is(err, orbit.ErrUnavailable):
				backendErrs = append(backendErrs, err)
			default:
				callErrs = append(callErrs, err)
			}
			callMu.Unlock()
			time.Sleep(5 * time.Millisecond)
		}
	}()

	ttl := 3 * time.Second // the default node lease
	for i, s := range servers {
		s.kill()
		t.Logf("server %d killed", i)
		time.Sleep(ttl + time.Second)
		s.start()
		if _, err := dialRetry(ctx, s.addr); err != nil {
			t.Fatalf("server %d did not come back: %v", i, err)
		}
	}
	if backendBlip != nil {
		phase.Store("backend", true)
		backendBlip()
		time.Sleep(ttl) // calls retried through the end of the blip still count as the blip's
		phase.Delete("backend")
		time.Sleep(time.Second)
	}
	close(stop)
	<-done

	lostMu.Lock()
	defer lostMu.Unlock()
	if len(lost) != 0 || n.Err() != nil {
		t.Fatalf("the node lost its lease: %v (Err %v)", lost, n.Err())
	}
	if got := n.Lease().Incarnation; got != incarnation {
		t.Fatalf("node incarnation changed from %d to %d", incarnation, got)
	}
	nodes, err := c.ListNodes(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 1 || nodes[0].ID != n.ID() || nodes[0].Lease.Incarnation != incarnation {
		t.Fatalf("cluster after the deaths: %v; want the node %s, incarnation %d", nodes, n.ID(), incarnation)
	}
	callMu.Lock()
	defer callMu.Unlock()
	if len(callErrs) != 0 {
		t.Fatalf("%d of %d calls failed outside a backend outage; first: %v", len(callErrs), calls, callErrs[0])
	}
	t.Logf("%d calls, none failed while servers died; %d Unavailable during the backend's outage", calls, len(backendErrs))
}
