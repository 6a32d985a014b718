package server_test

import (
	"fmt"
	"sync/atomic"
	"testing"

	orbitv1 "github.com/orbit-go/orbit/api/orbit/v1"
)

// Server throughput over loopback gRPC, client and server in one process
// on the same 2 cores: "place" and "locate" one reference per call (64
// callers), "locate-batch100" LocateOrPlaceBatch of 100 placed references
// per call (16 callers; ops/s counts references). Run:
//
//	go test -run '^$' -bench BenchmarkServer -benchtime 3s ./server/
func BenchmarkServer(b *testing.B) {
	for _, op := range []string{"place", "locate", "locate-batch100"} {
		b.Run("op="+op, func(b *testing.B) {
			c := newClusterB(b)
			for i := 0; i < 4; i++ {
				if _, err := c.nodes(0).Join(bg, &orbitv1.JoinRequest{Capabilities: &orbitv1.NodeCapabilities{AddressableTypes: []string{"Greeter"}}}); err != nil {
					b.Fatal(err)
				}
			}
			const existing = 10_000
			if op != "place" {
				for k := 0; k < existing; k++ {
					if _, err := c.addrs(0).LocateOrPlace(bg, &orbitv1.LocateOrPlaceRequest{Reference: sref("", "Greeter", fmt.Sprint("k", k))}); err != nil {
						b.Fatal(err)
					}
				}
			}
			var next atomic.Int64
			if op == "locate-batch100" {
				benchBatches(b, c.addrs(0), existing)
				return
			}
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

// benchBatches locates placed references k0..k<existing-1> 100 per call
// from 16 callers; each reference counts as one op.
func benchBatches(b *testing.B, cl orbitv1.AddressableServiceClient, existing int) {
	const batch = 100
	var next atomic.Int64
	b.SetParallelism(8) // 16 concurrent callers on 2 cores
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		refs := make([]*orbitv1.AddressableReference, batch)
		for pb.Next() {
			n := int(next.Add(1))
			for i := range refs {
				refs[i] = sref("", "Greeter", fmt.Sprint("k", (n*batch+i)%existing))
			}
			resp, err := cl.LocateOrPlaceBatch(bg, &orbitv1.LocateOrPlaceBatchRequest{References: refs})
			if err != nil {
				b.Error(err)
				return
			}
			for _, r := range resp.Results {
				if r.Code != 0 || r.Placed {
					b.Errorf("a placed reference was not located: %+v", r)
					return
				}
			}
		}
	})
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "ops/s")
}
