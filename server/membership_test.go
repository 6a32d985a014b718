package server_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	orbitv1 "github.com/orbit-go/orbit/api/orbit/v1"
	"github.com/orbit-go/orbit/internal/testbackend/etcdtest"
	"github.com/orbit-go/orbit/persistence"
	"github.com/orbit-go/orbit/persistence/config"
	"github.com/orbit-go/orbit/server"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// A join through one server reaches another at once through the
// directory's watch: its WatchNodes stream reports it and its placement
// uses the new node, although its node cache would keep the old view for
// a minute and its streams poll only every few seconds. Latencies are
// logged (memory and etcd).
func TestMembershipPushed(t *testing.T) {
	timings := server.DefaultTimings()
	timings.NodeLeaseTTL = 2 * time.Minute
	timings.NodeCacheTTL = time.Minute // only the push can refresh it in time
	t.Run("memory", func(t *testing.T) {
		cfg, err := config.NewBuilder().WithMemory("memory", config.DefaultMemoryConfig(), true).Build()
		if err != nil {
			t.Fatal(err)
		}
		reg, err := persistence.OpenRegistry(bg, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = reg.Close(bg) })
		pushed(t, func(b *server.Builder) *server.Builder { return b.WithRegistry(reg) }, timings)
	})
	t.Run("etcd", func(t *testing.T) {
		c := config.DefaultEtcdConfig()
		c.Endpoints, c.Prefix = etcdtest.Start(t).Endpoints(), fmt.Sprint("push-", time.Now().UnixNano())
		cfg, err := config.NewBuilder().WithEtcd("etcd", c, true).Build()
		if err != nil {
			t.Fatal(err)
		}
		pushed(t, func(b *server.Builder) *server.Builder { return b.WithPersistence(cfg) }, timings)
	})
}

func pushed(t *testing.T, backend func(*server.Builder) *server.Builder, timings server.Timings) {
	conns := make([]*grpc.ClientConn, 2)
	for i := range conns {
		s, err := backend(server.NewBuilder().WithListenAddress("127.0.0.1:0").WithAdminAddress("")).
			WithTimings(timings).WithLogger(quiet).Build(bg)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Start(bg); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Stop(bg) })
		conns[i], err = grpc.NewClient(s.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conns[i].Close() })
	}
	nodes0, nodes1 := orbitv1.NewNodeServiceClient(conns[0]), orbitv1.NewNodeServiceClient(conns[1])
	addrs0 := orbitv1.NewAddressableServiceClient(conns[0])
	ctx, cancel := context.WithTimeout(bg, 30*time.Second)
	defer cancel()
	joinType := func(c orbitv1.NodeServiceClient, typ string) {
		t.Helper()
		if _, err := c.Join(ctx, &orbitv1.JoinRequest{Url: "grpc://127.0.0.1:1", Capabilities: &orbitv1.NodeCapabilities{AddressableTypes: []string{typ}}}); err != nil {
			t.Fatal(err)
		}
	}
	// Server 0 knows the namespace (one Greeter node) and watches it.
	joinType(nodes0, "Greeter")
	if _, err := addrs0.LocateOrPlace(ctx, &orbitv1.LocateOrPlaceRequest{Reference: sref("", "Greeter", "a")}); err != nil {
		t.Fatal(err)
	}
	stream, err := nodes0.WatchNodes(ctx, &orbitv1.WatchNodesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if ev, err := stream.Recv(); err != nil || ev.Kind != orbitv1.NodeEvent_KIND_EXISTING {
		t.Fatalf("first event = %v, %v", ev, err)
	}
	events := make(chan time.Time, 1)
	go func() {
		if ev, err := stream.Recv(); err == nil && ev.Kind == orbitv1.NodeEvent_KIND_JOINED {
			events <- time.Now()
		}
	}()

	// A node of a new type joins through server 1.
	joined := time.Now()
	joinType(nodes1, "Counter")
	var placedAt time.Time
	for {
		_, err := addrs0.LocateOrPlace(ctx, &orbitv1.LocateOrPlaceRequest{Reference: sref("", "Counter", "c")})
		if err == nil {
			placedAt = time.Now()
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("server 0 never placed on the new node (its cache lives a minute): %v", err)
		}
		time.Sleep(time.Millisecond)
	}
	select {
	case at := <-events:
		t.Logf("join -> watch event at the other server: %s; -> placement there: %s", at.Sub(joined), placedAt.Sub(joined))
	case <-ctx.Done():
		t.Fatal("the other server's watch stream never reported the join")
	}
}
