package server_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	orbitv1 "github.com/orbit-go/orbit/api/orbit/v1"
	"github.com/orbit-go/orbit/internal/testbackend/etcdtest"
	"github.com/orbit-go/orbit/internal/testbackend/redistest"
	"github.com/orbit-go/orbit/persistence/config"
	_ "github.com/orbit-go/orbit/persistence/etcd"
	_ "github.com/orbit-go/orbit/persistence/redis"
	"github.com/orbit-go/orbit/server"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// A batch of 100 references against 100 single calls, on a real etcd and a
// real Redis, in the same run: "place" places 100 new references per
// iteration, "locate" finds 100 placed ones. Run:
//
//	go test -run '^$' -bench BatchVsSingle -benchtime 20x ./server/
func BenchmarkBatchVsSingle(b *testing.B) {
	backends := []struct {
		name string
		cfg  func(b *testing.B) config.ProviderConfig
	}{
		{"etcd", func(b *testing.B) config.ProviderConfig {
			c := config.DefaultEtcdConfig()
			c.Endpoints, c.Prefix = etcdtest.Start(b).Endpoints(), fmt.Sprint("bench-", time.Now().UnixNano())
			return &c
		}},
		{"redis", func(b *testing.B) config.ProviderConfig {
			c := config.DefaultRedisConfig()
			c.URL, c.Prefix = redistest.Start(b).URL(), fmt.Sprint("bench-", time.Now().UnixNano())
			return &c
		}},
	}
	const batch = 100
	for _, be := range backends {
		b.Run("backend="+be.name, func(b *testing.B) {
			addrs := benchServer(b, be.cfg(b))
			keys := 0
			refs := func() []*orbitv1.AddressableReference {
				out := make([]*orbitv1.AddressableReference, batch)
				for i := range out {
					out[i] = sref("", "Greeter", fmt.Sprint("k", keys))
					keys++
				}
				return out
			}
			placed := refs()
			if _, err := addrs.LocateOrPlaceBatch(bg, &orbitv1.LocateOrPlaceBatchRequest{References: placed}); err != nil {
				b.Fatal(err)
			}
			single := func(rs []*orbitv1.AddressableReference) {
				for _, r := range rs {
					if _, err := addrs.LocateOrPlace(bg, &orbitv1.LocateOrPlaceRequest{Reference: r}); err != nil {
						b.Fatal(err)
					}
				}
			}
			batched := func(rs []*orbitv1.AddressableReference) {
				resp, err := addrs.LocateOrPlaceBatch(bg, &orbitv1.LocateOrPlaceBatchRequest{References: rs})
				if err != nil {
					b.Fatal(err)
				}
				for _, r := range resp.Results {
					if r.Code != 0 {
						b.Fatal(r.Message)
					}
				}
			}
			for _, op := range []string{"place", "locate"} {
				for _, mode := range []string{"single", "batch"} {
					b.Run(fmt.Sprintf("op=%s/calls=%s", op, mode), func(b *testing.B) {
						call := single
						if mode == "batch" {
							call = batched
						}
						for i := 0; i < b.N; i++ {
							rs := placed
							if op == "place" {
								b.StopTimer()
								rs = refs()
								b.StartTimer()
							}
							call(rs)
						}
						b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "refs/s")
					})
				}
			}
		})
	}
}

// benchServer starts a server on the provider with four Greeter nodes.
func benchServer(b *testing.B, p config.ProviderConfig) orbitv1.AddressableServiceClient {
	b.Helper()
	cfg, err := config.NewBuilder().WithProvider("backend", p, true).Build()
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(bg, 30*time.Second)
	defer cancel()
	timings := server.DefaultTimings()
	timings.NodeLeaseTTL = time.Hour // the benchmark's nodes do not renew
	s, err := server.NewBuilder().WithListenAddress("127.0.0.1:0").WithAdminAddress("").WithPersistence(cfg).
		WithTimings(timings).WithLogger(quiet).Build(ctx)
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Stop(bg) })
	conn, err := grpc.NewClient(s.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = conn.Close() })
	nodes := orbitv1.NewNodeServiceClient(conn)
	for i := 0; i < 4; i++ {
		if _, err := nodes.Join(bg, &orbitv1.JoinRequest{Url: "grpc://127.0.0.1:1", Capabilities: &orbitv1.NodeCapabilities{AddressableTypes: []string{"Greeter"}}}); err != nil {
			b.Fatal(err)
		}
	}
	return orbitv1.NewAddressableServiceClient(conn)
}
