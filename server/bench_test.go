package server_test

import (
	"fmt"
	"sync/atomic"
	"testing"

	orbitv1 "github.com/orbit-go/orbit/api/orbit/v1"
)

// Server throughput over loopback gRPC, client and server in one process
// on the same 2 cores. Run:
//
//	go test -run '^$' -bench . -benchtime 3s ./server/
func BenchmarkServer(b *testing.B) {
	for _, op := range []string{"place", "locate"} {
		b.Run("op="+op, func(b *testing.B) {
			c := newClusterB(b)
			for i := 0; i < 4; i++ {
				if _, err := c.nodes(0).Join(bg, &orbitv1.JoinRequest{Capabilities: &orbitv1.NodeCapabilities{AddressableTypes: []string{"Greeter"}}}); err != nil {
					b.Fatal(err)
				}
			}
			const existing = 10_000
			if op == "locate" {
				for k := 0; k < existing; k++ {
					if _, err := c.addrs(0).LocateOrPlace(bg, &orbitv1.LocateOrPlaceRequest{Reference: sref("", "Greeter", fmt.Sprint("k", k))}); err != nil {
						b.Fatal(err)
					}
				}
			}
			var next atomic.Int64
			b.SetParallelism(32) // 64 concurrent callers on 2 cores
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				cl := c.addrs(0)
				for pb.Next() {
					n := next.Add(1)
					key := fmt.Sprint("new", n)
					if op == "locate" {
						key = fmt.Sprint("k", n%existing)
					}
					if _, err := cl.LocateOrPlace(bg, &orbitv1.LocateOrPlaceRequest{Reference: sref("", "Greeter", key)}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
		})
	}
}
