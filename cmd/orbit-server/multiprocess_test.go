package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/orbit-go/orbit/client"
	"github.com/orbit-go/orbit/internal/testbackend/etcdtest"
	"github.com/orbit-go/orbit/persistence"
)

// TestThreeServerProcessesShareOneBackend runs three real orbit-server
// processes against one etcd. Concurrent clients, each talking to a random
// server, never see two different owners with unexpired leases for one
// addressable; when a node stops renewing, its addressables move to another
// node (with a higher epoch) only after its node lease expired; and killing
// one server process with SIGKILL does not disturb the others.
func TestThreeServerProcessesShareOneBackend(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs orbit-server processes")
	}
	etcd := etcdtest.Start(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "orbit-server")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build orbit-server: %v\n%s", err, out)
	}
	cfgPath := filepath.Join(dir, "orbit.toml")
	cfg := fmt.Sprintf("[providers.etcd]\ntype = \"Etcd\"\nendpoints = [%q]\nprefix = \"multi-%d\"\n", etcd.Endpoints()[0], time.Now().UnixNano())
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	var addrs []string
	var procs []*exec.Cmd
	for i := 0; i < 3; i++ {
		addr := freeAddr(t)
		cmd := exec.Command(bin, "serve", "--config", cfgPath, "--listen", addr, "--admin-addr", "",
			"--node-lease-ttl", "2s", "--node-cache-ttl", "200ms", "--log-level", "warn")
		cmd.Stderr = &prefixWriter{t: t, prefix: fmt.Sprintf("server %d: ", i)}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			done := make(chan struct{})
			go func() { _ = cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				_ = cmd.Process.Kill()
			}
		})
		addrs, procs = append(addrs, addr), append(procs, cmd)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	clients := make([]*client.Client, 3)
	for i, a := range addrs {
		c, err := dialRetry(ctx, a)
		if err != nil {
			t.Fatalf("server %d at %s: %v", i, a, err)
		}
		defer c.Close()
		clients[i] = c
	}
	// One node per server process.
	caps := persistence.NodeCapabilities{AddressableTypes: []string{"Greeter"}}
	var nodes []*client.Node
	for i, c := range clients {
		n, err := c.Join(ctx, client.NodeOptions{URL: fmt.Sprintf("grpc://127.0.0.1:%d", 9000+i), Capabilities: caps})
		if err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, n)
	}

	type owner struct {
		node  string
		epoch uint64
	}
	var mu sync.Mutex
	seen := map[string]map[owner]bool{}
	const keys = 40
	hammer := func(d time.Duration, skip int) {
		var wg sync.WaitGroup
		end := time.Now().Add(d)
		for w := 0; w < 12; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				r := rand.New(rand.NewPCG(uint64(w), 7))
				for time.Now().Before(end) {
					i := r.IntN(3)
					if i == skip {
						continue
					}
					key := fmt.Sprint("k", r.IntN(keys))
					ref := persistence.AddressableReference{Namespace: "default", Type: "Greeter", Key: persistence.StringKey(key)}
					l, _, err := clients[i].LocateOrPlace(ctx, ref)
					if err != nil {
						t.Errorf("server %d: locate %s: %v", i, key, err)
						return
					}
					mu.Lock()
					if seen[key] == nil {
						seen[key] = map[owner]bool{}
					}
					seen[key][owner{l.Node.Key, l.Epoch}] = true
					mu.Unlock()
				}
			}(w)
		}
		wg.Wait()
	}
	hammer(3*time.Second, -1)
	for key, o := range seen {
		if len(o) != 1 {
			t.Fatalf("addressable %s had %d owners while every node was alive: %v", key, len(o), o)
		}
	}
	// Node 0 crashes (stops renewing); server 2 is killed outright.
	victim := nodes[0].ID().Key
	nodes[0].Detach()
	stoppedAt := time.Now()
	if err := procs[2].Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2500 * time.Millisecond) // past the victim's 2 s node lease
	mu.Lock()
	before := map[string]owner{}
	for key, o := range seen {
		for x := range o {
			before[key] = x
		}
	}
	seen = map[string]map[owner]bool{}
	mu.Unlock()
	hammer(2*time.Second, 2)
	moved := 0
	for key, o := range seen {
		if len(o) != 1 {
			t.Fatalf("after the failover, addressable %s had %d owners: %v", key, len(o), o)
		}
		for x := range o {
			if x.node == victim {
				t.Fatalf("addressable %s is still on the crashed node %s %s after it stopped renewing", key, victim, time.Since(stoppedAt))
			}
			if b, ok := before[key]; ok && b.node == victim {
				moved++
				if x.epoch <= b.epoch {
					t.Fatalf("addressable %s moved from %v to %v without a higher epoch", key, b, x)
				}
			}
		}
	}
	if moved == 0 {
		t.Fatal("no addressable of the crashed node was observed moving: the test tested nothing")
	}
	t.Logf("%d addressables moved off the crashed node; server 2 killed, servers 0 and 1 kept serving", moved)
}
