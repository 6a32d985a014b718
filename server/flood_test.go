package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	orbitv1 "github.com/orbit-go/orbit/api/orbit/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Flood tests: an attacker's request pattern, on loopback, bounded in
// count; the server's state is checked structurally (the structure that
// leaked is empty) and the heap after GC against a stated bound, generous
// against noise and far below what the leak costs.

// heapAfterGC is the in-use heap once garbage is collected.
func heapAfterGC() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

const mib = 1 << 20

// skipShort skips the floods that take long under -race (about 20 s and
// 90 s on 2 cores) in -short runs.
func skipShort(t *testing.T) {
	if testing.Short() {
		t.Skip("flood of 10^5 calls; run without -short")
	}
}

// checkHeap fails when the heap grew by more than bound since base.
func checkHeap(t *testing.T, what string, base, bound uint64) {
	t.Helper()
	after := heapAfterGC()
	grown := int64(after) - int64(base)
	t.Logf("%s: heap in use %.1f -> %.1f MiB after GC (%+.1f MiB; bound %d MiB)", what,
		float64(base)/mib, float64(after)/mib, float64(grown)/mib, bound/mib)
	if grown > int64(bound) {
		t.Fatalf("%s: heap grew by %.1f MiB after GC, bound %d MiB", what, float64(grown)/mib, bound/mib)
	}
}

// parallel runs n calls of fn over workers goroutines.
func parallel(n, workers int, fn func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				fn(i)
			}
		}()
	}
	wg.Wait()
}

// 200,000 references naming as many new namespaces (in batches of 1,000,
// as an anonymous caller can send them) leave nothing in the node cache.
// The leak was ~465 B per namespace (93 MB here); the bound is 16 MiB.
func TestFloodNewNamespaces(t *testing.T) {
	const total, batch = 200_000, MaxBatch
	skipShort(t)
	l := newLimited(t, Limits{}, nil)
	send := func(from int) {
		req := &orbitv1.LocateOrPlaceBatchRequest{}
		for i := from; i < from+batch; i++ {
			req.References = append(req.References, sref(fmt.Sprint("ns-", i), "Greeter", "k"))
		}
		resp, err := l.addrs().LocateOrPlaceBatch(bg, req)
		if err != nil {
			t.Error(err)
			return
		}
		if c := codes.Code(resp.GetResults()[0].GetCode()); c == codes.OK {
			t.Errorf("a reference in a namespace without nodes was placed")
		}
	}
	send(-batch) // warm up
	base := heapAfterGC()
	parallel(total/batch, 4, func(i int) { send(i * batch) })
	if n := l.s.cache.size(); n != 0 {
		t.Fatalf("node cache holds %d namespaces after the flood, want 0", n)
	}
	checkHeap(t, "200,000 new namespaces", base, 16*mib)
}

func sref(ns, typ, key string) *orbitv1.AddressableReference {
	return &orbitv1.AddressableReference{Namespace: ns, Type: typ, Key: &orbitv1.AddressableKey{Key: &orbitv1.AddressableKey_StringKey{StringKey: key}}}
}

// rawCodec sends pre-encoded bytes (a client that writes what it likes).
type rawCodec struct{}

func (rawCodec) Name() string { return "proto" }
func (rawCodec) Marshal(v any) ([]byte, error) {
	if b, ok := v.([]byte); ok {
		return b, nil
	}
	return nil, fmt.Errorf("rawCodec: %T", v)
}
func (rawCodec) Unmarshal(data []byte, v any) error {
	if b, ok := v.(*[]byte); ok {
		*b = append((*b)[:0], data...)
	}
	return nil
}

// 120,000 server-streaming calls whose first message does not decode
// (invalid UTF-8 in a string) followed by a second message leave no
// decoding error behind. The leak was ~205 B per call (25 MB here); the
// bound is 8 MiB.
func TestFloodMalformedStreams(t *testing.T) {
	const total = 120_000
	skipShort(t)
	l := newLimited(t, Limits{}, nil)
	bad := []byte{0x0a, 0x02, 0xff, 0xfe} // WatchNodesRequest.namespace = "\xff\xfe"
	desc := &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}
	var codesSeen sync.Map
	call := func(int) {
		ctx, cancel := context.WithCancel(bg)
		defer cancel()
		st, err := l.conn.NewStream(ctx, desc, orbitv1.NodeService_WatchNodes_FullMethodName, grpc.ForceCodec(rawCodec{}))
		if err != nil {
			t.Error(err)
			return
		}
		_ = st.SendMsg(bad)
		_ = st.SendMsg(bad)
		_ = st.CloseSend()
		var out []byte
		for {
			if err = st.RecvMsg(&out); err != nil {
				break
			}
		}
		if errors.Is(err, io.EOF) {
			t.Error("a malformed watch was answered OK")
			return
		}
		codesSeen.Store(status.Code(err), true)
	}
	parallel(1000, 8, call) // warm up
	base := heapAfterGC()
	parallel(total, 8, call)
	if n := l.s.codec.pending(); n != 0 {
		t.Fatalf("%d decoding errors held after the flood, want 0", n)
	}
	codesSeen.Range(func(k, _ any) bool { t.Logf("answered %v", k); return true })
	checkHeap(t, "120,000 malformed streaming calls", base, 8*mib)
}

// 5,000 WatchNodes streams from one host on one connection: the default
// per-caller limit (64) is accepted and held open, every other one is
// answered ResourceExhausted naming the limit at once. Unlimited, they
// were all accepted (heap +218 MB, 5,000 goroutines); the bound is 32 MiB
// and 1,000 goroutines.
func TestFloodWatchStreams(t *testing.T) {
	const total = 5000
	l := newLimited(t, Limits{}, nil)
	if _, err := l.nodes().Join(bg, joinReq("default", "n")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(bg)
	defer cancel()
	base, goroutines := heapAfterGC(), runtime.NumGoroutine()
	var accepted, refused atomic.Int64
	var mu sync.Mutex
	var open []orbitv1.NodeService_WatchNodesClient
	parallel(total, 32, func(int) {
		st, err := l.nodes().WatchNodes(ctx, &orbitv1.WatchNodesRequest{})
		if err == nil {
			if _, err = st.Recv(); err == nil {
				accepted.Add(1)
				mu.Lock()
				open = append(open, st)
				mu.Unlock()
				return
			}
		}
		if st, _ := status.FromError(err); st.Code() != codes.ResourceExhausted {
			t.Errorf("watch refused with %v, want ResourceExhausted", err)
			return
		}
		refused.Add(1)
	})
	want := int64(DefaultLimits().MaxWatchesPerCaller)
	if accepted.Load() != want || refused.Load() != total-want {
		t.Fatalf("%d watches accepted, %d refused; want %d and %d", accepted.Load(), refused.Load(), want, total-want)
	}
	if g := runtime.NumGoroutine() - goroutines; g > 1000 {
		t.Fatalf("%d more goroutines with %d watches open", g, want)
	}
	checkHeap(t, "5,000 watch streams", base, 32*mib)
	cancel()
	waitFor(t, "the watches to end", func() bool { o, c := l.s.watches.counts(); return o == 0 && c == 0 })
}

// A join flood beyond the node limit: 2,000 joins into one namespace with
// a limit of 200 nodes, and 300 joins each opening a namespace with a
// limit of 20 namespaces with nodes (smaller than the defaults, 1,000 and
// 100, only to keep the test short under -race: each admission lists the
// namespace): the excess is refused ResourceExhausted naming the limit
// and stored nowhere. Unlimited, all 2,300 were stored. The bound is
// 16 MiB (the admitted nodes and their log lines included).
func TestFloodJoinsBeyondLimits(t *testing.T) {
	d := Limits{MaxNodesPerNamespace: 200, MaxNamespaces: 20}
	l := newLimited(t, d, nil)
	base := heapAfterGC()
	var ok, refused atomic.Int64
	count := func(err error, limit string) {
		if err == nil {
			ok.Add(1)
			return
		}
		st, _ := status.FromError(err)
		if st.Code() != codes.ResourceExhausted || !strings.Contains(st.Message(), limit) {
			t.Errorf("join refused with %v, want ResourceExhausted naming %s", err, limit)
			return
		}
		refused.Add(1)
	}
	parallel(2000, 8, func(int) {
		_, err := l.nodes().Join(bg, joinReq("flood", ""))
		count(err, "server.limits.max_nodes_per_namespace")
	})
	if ok.Load() != int64(d.MaxNodesPerNamespace) || refused.Load() != 2000-int64(d.MaxNodesPerNamespace) {
		t.Fatalf("%d joins admitted, %d refused; want %d admitted", ok.Load(), refused.Load(), d.MaxNodesPerNamespace)
	}
	list, err := l.s.nodes.ListAll(bg, "flood")
	if err != nil || len(list) != d.MaxNodesPerNamespace {
		t.Fatalf("namespace holds %d nodes (%v), want %d", len(list), err, d.MaxNodesPerNamespace)
	}
	ok.Store(0)
	refused.Store(0)
	parallel(300, 8, func(i int) {
		_, err := l.nodes().Join(bg, joinReq(fmt.Sprint("tenant-", i), "n"))
		count(err, "server.limits.max_namespaces")
	})
	if ok.Load() != int64(d.MaxNamespaces-1) || refused.Load() != 300-int64(d.MaxNamespaces-1) {
		t.Fatalf("%d namespaces opened, %d refused; want %d opened (the flood namespace is the 20th)", ok.Load(), refused.Load(), d.MaxNamespaces-1)
	}
	if n := l.s.cache.size(); n != d.MaxNamespaces {
		t.Fatalf("node cache holds %d namespaces, want %d", n, d.MaxNamespaces)
	}
	checkHeap(t, "join flood", base, 16*mib)
}
