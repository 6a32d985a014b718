package server_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	orbitv1 "github.com/orbit-go/orbit/api/orbit/v1"
	"github.com/orbit-go/orbit/clock"
	"github.com/orbit-go/orbit/persistence"
	"github.com/orbit-go/orbit/persistence/config"
	_ "github.com/orbit-go/orbit/persistence/memory"
	"github.com/orbit-go/orbit/server"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

var bg = context.Background()

type cluster struct {
	reg     *persistence.Registry
	clock   *clock.Manual
	servers []*server.Server
	conns   []*grpc.ClientConn
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// newCluster starts n servers sharing one memory provider and a manual clock.
func newCluster(t testing.TB, n int) *cluster {
	t.Helper()
	cfg, err := config.NewBuilder().WithMemory("memory", config.DefaultMemoryConfig(), true).Build()
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{clock: clock.NewManual(time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))}
	c.reg, err = persistence.OpenRegistry(bg, cfg, persistence.WithClock(c.clock))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.reg.Close(bg) })
	timings := server.DefaultTimings()
	timings.NodeCacheTTL = 200 * time.Millisecond
	timings.HealthInterval = 100 * time.Millisecond
	for i := 0; i < n; i++ {
		s, err := server.NewBuilder().WithListenAddress("127.0.0.1:0").WithRegistry(c.reg).WithClock(c.clock).
			WithTimings(timings).WithLogger(quiet).Build(bg)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Start(bg); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Stop(bg) })
		conn, err := grpc.NewClient(s.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conn.Close() })
		c.servers = append(c.servers, s)
		c.conns = append(c.conns, conn)
	}
	return c
}

func (c *cluster) nodes(i int) orbitv1.NodeServiceClient {
	return orbitv1.NewNodeServiceClient(c.conns[i])
}
func (c *cluster) addrs(i int) orbitv1.AddressableServiceClient {
	return orbitv1.NewAddressableServiceClient(c.conns[i])
}

func newClusterB(b *testing.B) *cluster { return newCluster(b, 1) }

func join(t *testing.T, c orbitv1.NodeServiceClient, ns string, types ...string) *orbitv1.JoinResponse {
	t.Helper()
	r, err := c.Join(bg, &orbitv1.JoinRequest{Namespace: ns, Url: "grpc://127.0.0.1:1", Capabilities: &orbitv1.NodeCapabilities{AddressableTypes: types}})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func sref(ns, typ, key string) *orbitv1.AddressableReference {
	return &orbitv1.AddressableReference{Namespace: ns, Type: typ, Key: &orbitv1.AddressableKey{Key: &orbitv1.AddressableKey_StringKey{StringKey: key}}}
}

func TestPlacementAcrossServers(t *testing.T) {
	c := newCluster(t, 3)
	var joined []*orbitv1.JoinResponse
	for i := 0; i < 4; i++ {
		joined = append(joined, join(t, c.nodes(i%3), "", "Greeter"))
	}
	perNode := map[string]int{}
	for k := 0; k < 200; k++ {
		ref := sref("", "Greeter", fmt.Sprint("user-", k))
		first, err := c.addrs(k%3).LocateOrPlace(bg, &orbitv1.LocateOrPlaceRequest{Reference: ref})
		if err != nil {
			t.Fatal(err)
		}
		if !first.Placed || first.Lease.Epoch == 0 {
			t.Fatalf("first locate of %d did not place: %+v", k, first)
		}
		perNode[first.Lease.Node.Key]++
		// Every server answers the same owner.
		for i := 0; i < 3; i++ {
			again, err := c.addrs(i).LocateOrPlace(bg, &orbitv1.LocateOrPlaceRequest{Reference: ref})
			if err != nil || again.Placed || again.Lease.Node.Key != first.Lease.Node.Key || again.Lease.Epoch != first.Lease.Epoch {
				t.Fatalf("server %d answered %+v, %v; first answer %+v", i, again, err, first)
			}
		}
	}
	if len(perNode) != 4 {
		t.Fatalf("placement used %d of 4 nodes: %v", len(perNode), perNode)
	}
	for n, cnt := range perNode {
		if cnt < 20 {
			t.Fatalf("placement is uneven: node %s got %d of 200 (%v)", n, cnt, perNode)
		}
	}
	// The type filter: a type no node hosts is unavailable, with a clear message.
	_, err := c.addrs(0).LocateOrPlace(bg, &orbitv1.LocateOrPlaceRequest{Reference: sref("", "Nobody", "x")})
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), `"Nobody"`) {
		t.Fatalf("placing a type no node hosts = %v", err)
	}
	_ = joined
}

// Concurrent clients of three servers never see two different owners with
// unexpired leases for one addressable.
func TestConcurrentLocateOrPlaceSingleOwner(t *testing.T) {
	c := newCluster(t, 3)
	for i := 0; i < 3; i++ {
		join(t, c.nodes(i), "", "Greeter")
	}
	const keys, clients = 50, 12
	var mu sync.Mutex
	owners := map[string]map[string]bool{}
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for w := 0; w < clients; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for k := 0; k < keys; k++ {
				key := fmt.Sprint("k", (k+w)%keys)
				r, err := c.addrs(w%3).LocateOrPlace(bg, &orbitv1.LocateOrPlaceRequest{Reference: sref("", "Greeter", key)})
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				if owners[key] == nil {
					owners[key] = map[string]bool{}
				}
				owners[key][fmt.Sprint(r.Lease.Node.Key, "@", r.Lease.Epoch)] = true
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for key, o := range owners {
		if len(o) != 1 {
			t.Fatalf("addressable %s had %d owners: %v", key, len(o), o)
		}
	}
}

func TestNodeThatStopsRenewingLosesItsAddressables(t *testing.T) {
	c := newCluster(t, 2)
	a := join(t, c.nodes(0), "", "Greeter")
	ref := sref("", "Greeter", "solo")
	r, err := c.addrs(0).LocateOrPlace(bg, &orbitv1.LocateOrPlaceRequest{Reference: ref})
	if err != nil || r.Lease.Node.Key != a.Id.Key {
		t.Fatalf("placement = %+v, %v", r, err)
	}
	b := join(t, c.nodes(1), "", "Greeter")
	// b renews, a does not; after the node lease TTL a is gone.
	for i := 0; i < 4; i++ {
		c.clock.Advance(time.Second)
		if _, err := c.nodes(1).RenewLease(bg, &orbitv1.RenewNodeLeaseRequest{Id: b.Id, ChallengeToken: b.Lease.ChallengeToken}); err != nil {
			t.Fatal(err)
		}
	}
	r2, err := c.addrs(1).LocateOrPlace(bg, &orbitv1.LocateOrPlaceRequest{Reference: ref})
	if err != nil || !r2.Placed || r2.Lease.Node.Key != b.Id.Key || r2.Lease.Epoch <= r.Lease.Epoch {
		t.Fatalf("after a's node lease expired: %+v, %v; want a takeover by b with a higher epoch", r2, err)
	}
	// a, fenced, can neither renew its node lease nor the addressable.
	_, err = c.nodes(0).RenewLease(bg, &orbitv1.RenewNodeLeaseRequest{Id: a.Id, ChallengeToken: a.Lease.ChallengeToken})
	if status.Code(err) != codes.NotFound {
		t.Fatalf("renewal of an expired node = %v, want NotFound", err)
	}
}

func TestLeaveReleasesLeases(t *testing.T) {
	c := newCluster(t, 1)
	a := join(t, c.nodes(0), "", "Greeter")
	for k := 0; k < 5; k++ {
		if _, err := c.addrs(0).LocateOrPlace(bg, &orbitv1.LocateOrPlaceRequest{Reference: sref("", "Greeter", fmt.Sprint(k))}); err != nil {
			t.Fatal(err)
		}
	}
	page, err := c.addrs(0).ListLeases(bg, &orbitv1.ListLeasesRequest{Node: a.Id, PageSize: 2})
	if err != nil || len(page.Leases) != 2 || page.NextPageToken == "" {
		t.Fatalf("ListLeases page = %d leases, token %q, %v", len(page.Leases), page.NextPageToken, err)
	}
	if _, err := c.nodes(0).Leave(bg, &orbitv1.LeaveRequest{Id: a.Id, ChallengeToken: "wrong"}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("Leave with a wrong token = %v", err)
	}
	resp, err := c.nodes(0).Leave(bg, &orbitv1.LeaveRequest{Id: a.Id, ChallengeToken: a.Lease.ChallengeToken})
	if err != nil || resp.ReleasedLeases != 5 {
		t.Fatalf("Leave = %+v, %v", resp, err)
	}
	b := join(t, c.nodes(0), "", "Greeter")
	r, err := c.addrs(0).LocateOrPlace(bg, &orbitv1.LocateOrPlaceRequest{Reference: sref("", "Greeter", "0")})
	if err != nil || r.Lease.Node.Key != b.Id.Key || !r.Placed {
		t.Fatalf("after leave, placement = %+v, %v", r, err)
	}
}

func TestNamespacesIsolate(t *testing.T) {
	c := newCluster(t, 1)
	join(t, c.nodes(0), "blue", "Greeter")
	if _, err := c.addrs(0).LocateOrPlace(bg, &orbitv1.LocateOrPlaceRequest{Reference: sref("green", "Greeter", "x")}); status.Code(err) != codes.Unavailable {
		t.Fatalf("a node of namespace blue hosted an addressable of green: %v", err)
	}
	list, err := c.nodes(0).ListNodes(bg, &orbitv1.ListNodesRequest{Namespace: "green"})
	if err != nil || len(list.Nodes) != 0 {
		t.Fatalf("green lists %d nodes, %v", len(list.Nodes), err)
	}
	list, err = c.nodes(0).ListNodes(bg, &orbitv1.ListNodesRequest{Namespace: "blue", ActiveOnly: true})
	if err != nil || len(list.Nodes) != 1 {
		t.Fatalf("blue lists %d nodes, %v", len(list.Nodes), err)
	}
}

func TestBadRequests(t *testing.T) {
	c := newCluster(t, 1)
	a := join(t, c.nodes(0), "", "Greeter")
	r, err := c.addrs(0).LocateOrPlace(bg, &orbitv1.LocateOrPlaceRequest{Reference: sref("", "Greeter", "k")})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		call func() error
		code codes.Code
		msg  string
	}{
		{"empty type", func() error {
			_, err := c.addrs(0).LocateOrPlace(bg, &orbitv1.LocateOrPlaceRequest{Reference: sref("", "", "k")})
			return err
		}, codes.InvalidArgument, "reference.type"},
		{"oversized key", func() error {
			_, err := c.addrs(0).LocateOrPlace(bg, &orbitv1.LocateOrPlaceRequest{Reference: sref("", "Greeter", strings.Repeat("k", 300))})
			return err
		}, codes.InvalidArgument, "reference.key"},
		{"invalid utf-8", func() error {
			// The Go client refuses to encode it, so send the wire bytes.
			key := protowire.AppendTag(nil, 1, protowire.BytesType)
			key = protowire.AppendString(key, "\xff\xfe")
			ref := protowire.AppendTag(nil, 2, protowire.BytesType)
			ref = protowire.AppendString(ref, "Greeter")
			ref = protowire.AppendTag(ref, 3, protowire.BytesType)
			ref = protowire.AppendBytes(ref, key)
			req := protowire.AppendTag(nil, 1, protowire.BytesType)
			req = protowire.AppendBytes(req, ref)
			out := new(orbitv1.LocateOrPlaceResponse)
			return c.conns[0].Invoke(bg, "/orbit.v1.AddressableService/LocateOrPlace", rawRequest(req), out, grpc.ForceCodec(rawCodec{}))
		}, codes.InvalidArgument, "UTF-8"},
		{"missing reference", func() error {
			_, err := c.addrs(0).LocateOrPlace(bg, &orbitv1.LocateOrPlaceRequest{})
			return err
		}, codes.InvalidArgument, "reference"},
		{"unknown node renews", func() error {
			_, err := c.nodes(0).RenewLease(bg, &orbitv1.RenewNodeLeaseRequest{Id: &orbitv1.NodeId{Key: "ghost"}, ChallengeToken: "x"})
			return err
		}, codes.NotFound, "ghost"},
		{"stale epoch", func() error {
			_, err := c.addrs(0).RenewLease(bg, &orbitv1.RenewLeaseRequest{Reference: r.Lease.Reference, Node: a.Id, Epoch: r.Lease.Epoch - 1, ChallengeToken: a.Lease.ChallengeToken})
			return err
		}, codes.FailedPrecondition, "epoch"},
		{"wrong token", func() error {
			_, err := c.addrs(0).Abandon(bg, &orbitv1.AbandonRequest{Reference: r.Lease.Reference, Node: a.Id, Epoch: r.Lease.Epoch, ChallengeToken: "stolen"})
			return err
		}, codes.FailedPrecondition, "token"},
		{"negative page size", func() error {
			_, err := c.addrs(0).ListLeases(bg, &orbitv1.ListLeasesRequest{Node: a.Id, PageSize: -1})
			return err
		}, codes.InvalidArgument, "page_size"},
		{"duplicate node key", func() error {
			_, err := c.nodes(0).Join(bg, &orbitv1.JoinRequest{NodeKey: a.Id.Key, Capabilities: &orbitv1.NodeCapabilities{}})
			return err
		}, codes.AlreadyExists, a.Id.Key},
	}
	for _, tc := range cases {
		err := tc.call()
		if status.Code(err) != tc.code || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: %v; want %s mentioning %q", tc.name, err, tc.code, tc.msg)
		}
	}
	// The server keeps serving, and the holder's own renew works.
	if _, err := c.addrs(0).RenewLease(bg, &orbitv1.RenewLeaseRequest{Reference: r.Lease.Reference, Node: a.Id, Epoch: r.Lease.Epoch, ChallengeToken: a.Lease.ChallengeToken}); err != nil {
		t.Fatalf("renewal by the holder after bad requests: %v", err)
	}
}

func TestHealthReflectsProvider(t *testing.T) {
	c := newCluster(t, 1)
	h := healthpb.NewHealthClient(c.conns[0])
	resp, err := h.Check(bg, &healthpb.HealthCheckRequest{})
	if err != nil || resp.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health = %v, %v", resp, err)
	}
	// The watch stream reports existing nodes first, then joins and leaves.
	ctx, cancel := context.WithTimeout(bg, 10*time.Second)
	defer cancel()
	a := join(t, c.nodes(0), "", "Greeter")
	stream, err := c.nodes(0).WatchNodes(ctx, &orbitv1.WatchNodesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := stream.Recv()
	if err != nil || ev.Kind != orbitv1.NodeEvent_KIND_EXISTING || ev.Node.Id.Key != a.Id.Key {
		t.Fatalf("first watch event = %v, %v", ev, err)
	}
	b := join(t, c.nodes(0), "", "Greeter")
	ev, err = stream.Recv()
	if err != nil || ev.Kind != orbitv1.NodeEvent_KIND_JOINED || ev.Node.Id.Key != b.Id.Key {
		t.Fatalf("join event = %v, %v", ev, err)
	}
	if _, err := c.nodes(0).Leave(bg, &orbitv1.LeaveRequest{Id: b.Id, ChallengeToken: b.Lease.ChallengeToken}); err != nil {
		t.Fatal(err)
	}
	ev, err = stream.Recv()
	if err != nil || ev.Kind != orbitv1.NodeEvent_KIND_LEFT || ev.Node.Id.Key != b.Id.Key {
		t.Fatalf("leave event = %v, %v", ev, err)
	}
	// Closing the provider makes the server report NOT_SERVING.
	p, _ := c.reg.DefaultClusterProvider()
	_ = p.Close(bg)
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := h.Check(bg, &healthpb.HealthCheckRequest{})
		if err == nil && resp.Status == healthpb.HealthCheckResponse_NOT_SERVING {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("health never became NOT_SERVING: %v, %v", resp, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	_, err = c.addrs(0).LocateOrPlace(bg, &orbitv1.LocateOrPlaceRequest{Reference: sref("", "Greeter", "x")})
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("placement on a closed provider = %v, want Unavailable", err)
	}
}

// rawRequest is a request already encoded on the wire.
type rawRequest []byte

// rawCodec sends rawRequest bytes as they are and decodes responses as protobuf.
type rawCodec struct{}

func (rawCodec) Name() string { return "proto" }
func (rawCodec) Marshal(v any) ([]byte, error) {
	if r, ok := v.(rawRequest); ok {
		return r, nil
	}
	return proto.Marshal(v.(proto.Message))
}
func (rawCodec) Unmarshal(b []byte, v any) error { return proto.Unmarshal(b, v.(proto.Message)) }

func TestLocateOrPlaceBatch(t *testing.T) {
	c := newCluster(t, 1)
	join(t, c.nodes(0), "", "Greeter")
	refs := []*orbitv1.AddressableReference{sref("", "Greeter", "a"), sref("", "", "bad"), sref("", "Greeter", "b"), sref("", "Greeter", "a")}
	resp, err := c.addrs(0).LocateOrPlaceBatch(bg, &orbitv1.LocateOrPlaceBatchRequest{References: refs})
	if err != nil {
		t.Fatal(err)
	}
	r := resp.Results
	if len(r) != 4 || !r[0].Placed || r[0].Lease == nil || r[2].Lease == nil || !r[2].Placed {
		t.Fatalf("batch results = %v", r)
	}
	if codes.Code(r[1].Code) != codes.InvalidArgument || !strings.Contains(r[1].Message, "references[1]") || !strings.Contains(r[1].Message, "reference.type") {
		t.Fatalf("bad reference result = %v", r[1])
	}
	if r[3].Placed || r[3].Lease.Epoch != r[0].Lease.Epoch || r[3].Lease.Node.Key != r[0].Lease.Node.Key {
		t.Fatalf("second occurrence of a = %v, want the lease placed by the first", r[3])
	}
	// The unary call sees the same lease.
	one, err := c.addrs(0).LocateOrPlace(bg, &orbitv1.LocateOrPlaceRequest{Reference: sref("", "Greeter", "b")})
	if err != nil || one.Lease.Epoch != r[2].Lease.Epoch {
		t.Fatalf("unary locate = %v, %v", one, err)
	}
	// Located from the batch read, each lease says exactly what a unary
	// locate of it says: reference with its namespace filled in, holder
	// id, timestamps, epoch, incarnation and URL.
	join(t, c.nodes(0), "", "Greeter")
	noKey := &orbitv1.AddressableReference{Type: "Greeter"}
	located := []*orbitv1.AddressableReference{sref("", "Greeter", "a"), sref("default", "Greeter", "b"), noKey, noKey}
	if _, err := c.addrs(0).LocateOrPlace(bg, &orbitv1.LocateOrPlaceRequest{Reference: noKey}); err != nil {
		t.Fatal(err)
	}
	again, err := c.addrs(0).LocateOrPlaceBatch(bg, &orbitv1.LocateOrPlaceBatchRequest{References: located})
	if err != nil {
		t.Fatal(err)
	}
	for i, ref := range located {
		want, err := c.addrs(0).LocateOrPlace(bg, &orbitv1.LocateOrPlaceRequest{Reference: ref})
		if err != nil {
			t.Fatal(err)
		}
		got := again.Results[i]
		if got.Placed || got.Code != 0 || !proto.Equal(got.Lease, want.Lease) {
			t.Fatalf("batch located references[%d] = %v, unary locate = %v", i, got, want.Lease)
		}
		if got.Lease.Reference.Namespace != "default" || got.Lease.NodeUrl == "" {
			t.Fatalf("batch located references[%d] = %v, want namespace default and the holder's URL", i, got.Lease)
		}
	}
	big := make([]*orbitv1.AddressableReference, server.MaxBatch+1)
	for i := range big {
		big[i] = sref("", "Greeter", fmt.Sprint(i))
	}
	if _, err := c.addrs(0).LocateOrPlaceBatch(bg, &orbitv1.LocateOrPlaceBatchRequest{References: big}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("oversized batch = %v", err)
	}
}
