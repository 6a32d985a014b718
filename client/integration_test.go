package client_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orbit-go/orbit"
	orbitv1 "github.com/orbit-go/orbit/api/orbit/v1"
	"github.com/orbit-go/orbit/client"
	"github.com/orbit-go/orbit/server"
	"github.com/orbit-go/orbit/server/servertest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// shortTimings make node leases last 600 ms so that renewal and loss show
// within a second or two.
func shortTimings() server.Timings {
	t := server.DefaultTimings()
	t.NodeLeaseTTL = 600 * time.Millisecond
	t.NodeCacheTTL = 50 * time.Millisecond
	t.SweepInterval = 200 * time.Millisecond
	return t
}

// startServer runs an in-process server with the memory provider.
func startServer(t *testing.T, timings server.Timings) *server.Server {
	t.Helper()
	return servertest.Start(t, timings)
}

func dial(t *testing.T, srv *server.Server) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, srv.Addr(), client.WithNamespace("default"))
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func greeter(key string) orbit.AddressableReference {
	return orbit.AddressableReference{Type: "Greeter", Key: orbit.StringKey(key)}
}

func joinGreeter(t *testing.T, c *client.Client, key string, onLost func(error)) *client.Node {
	t.Helper()
	n, err := c.Join(context.Background(), client.NodeOptions{
		Key: key, URL: "grpc://127.0.0.1:9000",
		Capabilities: orbit.NodeCapabilities{AddressableTypes: []string{"Greeter"}}, OnLeaseLost: onLost,
	})
	if err != nil {
		t.Fatalf("Join %q: %v", key, err)
	}
	return n
}

func TestRoundTrip(t *testing.T) {
	srv := startServer(t, server.DefaultTimings())
	c := dial(t, srv)
	ctx := context.Background()
	n := joinGreeter(t, c, "", nil)
	if n.ID().Namespace != "default" || n.ID().Key == "" {
		t.Fatalf("node id %+v", n.ID())
	}
	if l := n.Lease(); l.ChallengeToken == "" || !l.RenewAt.Before(l.ExpiresAt) {
		t.Fatalf("node lease %+v", l.ExpiresAt)
	}
	nodes, err := c.ListNodes(ctx, true)
	if err != nil || len(nodes) != 1 || nodes[0].ID != n.ID() || nodes[0].Status != orbit.NodeActive ||
		!nodes[0].Capabilities.Hosts("Greeter") || nodes[0].Lease.ChallengeToken != "" {
		t.Fatalf("ListNodes = %+v, %v", nodes, err)
	}

	ref := greeter("alice")
	l1, placed, err := c.LocateOrPlace(ctx, ref)
	if err != nil || !placed || l1.Node != n.ID() || l1.Reference.Namespace != "default" || l1.Epoch == 0 {
		t.Fatalf("first LocateOrPlace = %+v placed=%v err=%v", l1, placed, err)
	}
	l2, placed, err := c.LocateOrPlace(ctx, ref)
	if err != nil || placed || !l2.Equal(l1) {
		t.Fatalf("second LocateOrPlace = %+v placed=%v err=%v", l2, placed, err)
	}
	time.Sleep(5 * time.Millisecond)
	l3, err := n.RenewAddressable(ctx, ref, l1.Epoch)
	if err != nil || l3.Epoch != l1.Epoch || !l3.ExpiresAt.After(l1.ExpiresAt) {
		t.Fatalf("RenewAddressable = %+v, %v", l3, err)
	}
	for i := range 3 {
		if _, _, err := c.LocateOrPlace(ctx, greeter(fmt.Sprint("bob", i))); err != nil {
			t.Fatal(err)
		}
	}
	var all []orbit.AddressableLease
	for token := ""; ; {
		page, err := n.ListLeases(ctx, token, 2)
		if err != nil {
			t.Fatalf("ListLeases: %v", err)
		}
		all = append(all, page.Leases...)
		if token = page.NextPageToken; token == "" {
			break
		}
	}
	if len(all) != 4 {
		t.Fatalf("listed %d leases, want 4: %+v", len(all), all)
	}

	if err := n.Abandon(ctx, ref, l1.Epoch); err != nil {
		t.Fatalf("Abandon: %v", err)
	}
	l4, placed, err := c.LocateOrPlace(ctx, ref)
	if err != nil || !placed || l4.Epoch <= l1.Epoch {
		t.Fatalf("LocateOrPlace after Abandon = %+v placed=%v err=%v", l4, placed, err)
	}

	if err := n.Leave(ctx); err != nil {
		t.Fatalf("Leave: %v", err)
	}
	if _, _, err := c.LocateOrPlace(ctx, greeter("carol")); !errors.Is(err, orbit.ErrUnavailable) {
		t.Fatalf("LocateOrPlace with no node: %v, want ErrUnavailable", err)
	}
	if nodes, err := c.ListNodes(ctx, false); err != nil || len(nodes) != 0 {
		t.Fatalf("ListNodes after Leave = %+v, %v", nodes, err)
	}
}

func TestRenewalKeepsNodeAliveAcrossTTLs(t *testing.T) {
	timings := shortTimings()
	srv := startServer(t, timings)
	c := dial(t, srv)
	n := joinGreeter(t, c, "steady", func(err error) { t.Errorf("lease lost: %v", err) })
	first := n.Lease().ExpiresAt
	time.Sleep(5 * timings.NodeLeaseTTL)
	if n.Err() != nil || !n.Lease().ExpiresAt.After(first.Add(3*timings.NodeLeaseTTL)) {
		t.Fatalf("after 5 TTLs: err=%v, expires %s (first %s)", n.Err(), n.Lease().ExpiresAt, first)
	}
	nodes, err := c.ListNodes(context.Background(), true)
	if err != nil || len(nodes) != 1 || nodes[0].ID != n.ID() {
		t.Fatalf("node not live after 5 TTLs: %+v, %v", nodes, err)
	}
	l, _, err := c.LocateOrPlace(context.Background(), greeter("x"))
	if err != nil || l.Node != n.ID() {
		t.Fatalf("LocateOrPlace: %+v, %v", l, err)
	}
}

// lostCounter records OnLeaseLost calls.
type lostCounter struct {
	mu   sync.Mutex
	errs []error
}

func (l *lostCounter) add(err error) { l.mu.Lock(); l.errs = append(l.errs, err); l.mu.Unlock() }
func (l *lostCounter) get() []error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]error(nil), l.errs...)
}

func waitLost(t *testing.T, n *client.Node, lc *lostCounter, ttl time.Duration) error {
	t.Helper()
	select {
	case <-n.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("renewal did not stop")
	}
	time.Sleep(2 * ttl) // several more renewal periods: no second call
	errs := lc.get()
	if len(errs) != 1 {
		t.Fatalf("OnLeaseLost called %d times (%v), want exactly once", len(errs), errs)
	}
	if !errors.Is(errs[0], client.ErrLeaseLost) || !errors.Is(n.Err(), client.ErrLeaseLost) {
		t.Fatalf("lost error %v / Err %v: want ErrLeaseLost", errs[0], n.Err())
	}
	return errs[0]
}

func TestLeaseLostWhenLeftElsewhere(t *testing.T) {
	timings := shortTimings()
	srv := startServer(t, timings)
	c := dial(t, srv)
	lc := &lostCounter{}
	n := joinGreeter(t, c, "victim", lc.add)

	// Another process holding the token leaves on the node's behalf.
	conn, err := grpc.NewClient(srv.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, err = orbitv1.NewNodeServiceClient(conn).Leave(context.Background(), &orbitv1.LeaveRequest{
		Id: &orbitv1.NodeId{Namespace: n.ID().Namespace, Key: n.ID().Key}, ChallengeToken: n.Lease().ChallengeToken,
	})
	if err != nil {
		t.Fatalf("raw Leave: %v", err)
	}
	err = waitLost(t, n, lc, timings.NodeLeaseTTL)
	if !errors.Is(err, orbit.ErrNotFound) && !errors.Is(err, orbit.ErrFenced) {
		t.Fatalf("lost error %v: want the server's NotFound or FailedPrecondition", err)
	}
	if err := n.Leave(context.Background()); err != nil {
		t.Fatalf("Leave after loss: %v", err)
	}
}

func TestLeaseLostWhenServerRemovesNode(t *testing.T) {
	timings := shortTimings()
	srv := startServer(t, timings)
	c := dial(t, srv)
	lc := &lostCounter{}
	n := joinGreeter(t, c, "removed", lc.add)
	p, err := srv.PersistenceRegistry().DefaultClusterProvider()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Nodes().Remove(context.Background(), n.ID()); err != nil {
		t.Fatalf("remove node: %v", err)
	}
	waitLost(t, n, lc, timings.NodeLeaseTTL)
	if err := c.Close(); err != nil {
		t.Fatalf("Close after loss: %v", err)
	}
}

func TestLeaseLostWhenServerGone(t *testing.T) {
	timings := shortTimings()
	srv := startServer(t, timings)
	c := dial(t, srv)
	lc := &lostCounter{}
	n := joinGreeter(t, c, "orphan", lc.add)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	err := waitLost(t, n, lc, timings.NodeLeaseTTL)
	if !errors.Is(err, client.ErrLeaseExpired) || !time.Now().After(n.Lease().ExpiresAt) {
		t.Fatalf("lost error %v: want ErrLeaseExpired after expiry", err)
	}
}

func TestErrorMapping(t *testing.T) {
	srv := startServer(t, server.DefaultTimings())
	c := dial(t, srv)
	ctx := context.Background()
	n := joinGreeter(t, c, "holder", nil)
	ref := greeter("fenced")
	l, _, err := c.LocateOrPlace(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.RenewAddressable(ctx, ref, l.Epoch-1); !errors.Is(err, orbit.ErrFenced) {
		t.Fatalf("renew with a stale epoch: %v, want ErrFenced", err)
	}
	if err := n.Abandon(ctx, ref, l.Epoch+1); !errors.Is(err, orbit.ErrFenced) {
		t.Fatalf("abandon with a wrong epoch: %v, want ErrFenced", err)
	}
	var ce *client.Error
	_, _, err = c.LocateOrPlace(ctx, orbit.AddressableReference{Key: orbit.StringKey("k")})
	if !errors.Is(err, orbit.ErrInvalidArgument) || !strings.Contains(err.Error(), "reference.type") || !errors.As(err, &ce) {
		t.Fatalf("empty type: %v, want ErrInvalidArgument naming reference.type", err)
	}
	long := strings.Repeat("x", orbit.MaxKeyLen+1)
	if _, _, err := c.LocateOrPlace(ctx, greeter(long)); !errors.Is(err, orbit.ErrInvalidArgument) ||
		!strings.Contains(err.Error(), "reference.key") {
		t.Fatalf("long key: %v", err)
	}
	if _, err := c.Join(ctx, client.NodeOptions{Key: "holder"}); !errors.Is(err, orbit.ErrConflict) {
		t.Fatalf("joining with a live node's key: %v, want ErrConflict", err)
	}
	if _, err := n.ListLeases(ctx, "", -1); !errors.Is(err, orbit.ErrInvalidArgument) {
		t.Fatalf("negative page size: %v", err)
	}
	if _, err := c.Join(ctx, client.NodeOptions{Capabilities: orbit.NodeCapabilities{AddressableTypes: []string{""}}}); !errors.Is(err, orbit.ErrInvalidArgument) ||
		!strings.Contains(err.Error(), "capabilities.addressable_types") {
		t.Fatalf("empty type in capabilities: %v", err)
	}
}

func TestDetachedNodeFailsOver(t *testing.T) {
	timings := shortTimings()
	srv := startServer(t, timings)
	c := dial(t, srv)
	ctx := context.Background()
	a := joinGreeter(t, c, "a", nil)
	b := joinGreeter(t, c, "b", nil)
	var onA []orbit.AddressableReference
	for i := 0; len(onA) < 5 && i < 1000; i++ {
		ref := greeter(fmt.Sprint("k", i))
		l, _, err := c.LocateOrPlace(ctx, ref)
		if err != nil {
			t.Fatal(err)
		}
		if l.Node == a.ID() {
			onA = append(onA, ref)
		}
	}
	if len(onA) == 0 {
		t.Fatal("nothing placed on node a")
	}
	a.Detach()
	deadline := time.Now().Add(10 * time.Second)
	for _, ref := range onA {
		for {
			l, _, err := c.LocateOrPlace(ctx, ref)
			if err != nil {
				t.Fatal(err)
			}
			if l.Node == b.ID() {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s still on %s", ref, l.Node)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if a.Err() != nil {
		t.Fatalf("detached node reports %v", a.Err())
	}
}

// Detach is a crash: closing the client afterwards does not leave the
// node, which stays a member until its lease expires.
func TestDetachedNodeIsNotLeftByClose(t *testing.T) {
	timings := server.DefaultTimings()
	timings.NodeLeaseTTL = time.Minute // the lease must outlive the test
	srv := startServer(t, timings)
	c := dial(t, srv)
	a := joinGreeter(t, c, "a", nil)
	a.Detach()
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	other := dial(t, srv)
	nodes, err := other.ListNodes(context.Background(), true)
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 1 || nodes[0].ID != a.ID() {
		t.Fatalf("after Detach and Close the cluster has %v; want the detached node %s still a member", nodes, a.ID())
	}
}

// Lookup finds without placing, and every lease answered names its
// holder's URL.
func TestLookupAndHolderURL(t *testing.T) {
	srv := startServer(t, shortTimings())
	c := dial(t, srv)
	ctx := context.Background()
	ref := greeter("alice")
	if _, err := c.Lookup(ctx, ref); !errors.Is(err, orbit.ErrNotFound) {
		t.Fatalf("Lookup before any node = %v, want ErrNotFound", err)
	}
	a := joinGreeter(t, c, "a", nil)
	if _, err := c.Lookup(ctx, ref); !errors.Is(err, orbit.ErrNotFound) {
		t.Fatalf("Lookup of a reference never placed = %v, want ErrNotFound", err)
	}
	if _, err := c.Lookup(ctx, ref); !errors.Is(err, orbit.ErrNotFound) {
		t.Fatalf("a Lookup placed the reference: %v", err)
	}
	placed, _, err := c.LocateOrPlace(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if placed.Node != a.ID() || placed.NodeURL != "grpc://127.0.0.1:9000" {
		t.Fatalf("placed lease = %+v, want node a with its URL", placed)
	}
	got, err := c.Lookup(ctx, ref)
	if err != nil || !got.Equal(placed) || got.NodeURL != placed.NodeURL {
		t.Fatalf("Lookup = %+v, %v; want %+v", got, err, placed)
	}
	// The holder dies: Lookup says so and does not move the addressable.
	a.Detach()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := c.Lookup(ctx, ref)
		if errors.Is(err, orbit.ErrNotFound) {
			break
		}
		if err != nil || time.Now().After(deadline) {
			t.Fatalf("Lookup after the holder died = %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
