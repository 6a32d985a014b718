package server_test

import (
	"strings"
	"testing"

	orbitv1 "github.com/orbit-go/orbit/api/orbit/v1"
	"github.com/orbit-go/orbit/server"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// A node that lapsed and joins again under the same key is a new
// incarnation: it cannot renew or release the leases of its previous life
// with the token it was given now, the old token is dead, and the next
// locate takes the addressable over with a higher epoch instead of
// answering the dead life's lease.
func TestRejoinedNodeCannotInheritLeases(t *testing.T) {
	c := newCluster(t, 1)
	nodes, addrs := c.nodes(0), c.addrs(0)
	first, err := nodes.Join(bg, &orbitv1.JoinRequest{NodeKey: "node-c", Url: "grpc://127.0.0.1:1",
		Capabilities: &orbitv1.NodeCapabilities{AddressableTypes: []string{"Greeter"}}})
	if err != nil {
		t.Fatal(err)
	}
	if first.Lease.Incarnation == 0 {
		t.Fatal("join returned incarnation 0")
	}
	victim := sref("", "Greeter", "victim")
	placed, err := addrs.LocateOrPlace(bg, &orbitv1.LocateOrPlaceRequest{Reference: victim})
	if err != nil {
		t.Fatal(err)
	}
	if placed.Lease.NodeIncarnation != first.Lease.Incarnation {
		t.Fatalf("lease granted to incarnation %d, node joined as %d", placed.Lease.NodeIncarnation, first.Lease.Incarnation)
	}

	// The node's lease lapses (the addressable lease, 60 s, does not), and
	// someone joins under the same key from elsewhere.
	c.clock.Advance(4 * server.DefaultTimings().NodeLeaseTTL)
	// A holder whose node lapsed is fenced (not "not found": its lease
	// record is still there, it just no longer belongs to a live node).
	_, err = addrs.RenewLease(bg, &orbitv1.RenewLeaseRequest{Reference: victim, Node: first.Id, Epoch: placed.Lease.Epoch, ChallengeToken: first.Lease.ChallengeToken})
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "not a live member") {
		t.Fatalf("renewal by a lapsed holder = %v, want FailedPrecondition naming it not a live member", err)
	}
	again, err := nodes.Join(bg, &orbitv1.JoinRequest{NodeKey: "node-c", Url: "grpc://127.0.0.1:2",
		Capabilities: &orbitv1.NodeCapabilities{AddressableTypes: []string{"Greeter"}}})
	if err != nil {
		t.Fatalf("joining again under a lapsed key: %v", err)
	}
	if again.Lease.Incarnation == 0 || again.Lease.Incarnation == first.Lease.Incarnation {
		t.Fatalf("re-join incarnation %d, first %d: want a new non-zero one", again.Lease.Incarnation, first.Lease.Incarnation)
	}
	if again.Lease.ChallengeToken == first.Lease.ChallengeToken {
		t.Fatal("re-join handed out the previous life's token")
	}

	// The new life cannot act on the old life's lease, even at its epoch.
	_, err = addrs.RenewLease(bg, &orbitv1.RenewLeaseRequest{Reference: victim, Node: again.Id, Epoch: placed.Lease.Epoch, ChallengeToken: again.Lease.ChallengeToken})
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("new incarnation renewed the previous life's lease: %v", err)
	}
	_, err = addrs.Abandon(bg, &orbitv1.AbandonRequest{Reference: victim, Node: again.Id, Epoch: placed.Lease.Epoch, ChallengeToken: again.Lease.ChallengeToken})
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("new incarnation released the previous life's lease: %v", err)
	}
	// The old token is dead.
	for name, call := range map[string]func() error{
		"renew node": func() error {
			_, err := nodes.RenewLease(bg, &orbitv1.RenewNodeLeaseRequest{Id: first.Id, ChallengeToken: first.Lease.ChallengeToken})
			return err
		},
		"renew lease": func() error {
			_, err := addrs.RenewLease(bg, &orbitv1.RenewLeaseRequest{Reference: victim, Node: first.Id, Epoch: placed.Lease.Epoch, ChallengeToken: first.Lease.ChallengeToken})
			return err
		},
	} {
		if err := call(); status.Code(err) != codes.FailedPrecondition {
			t.Errorf("%s with the previous life's token: %v, want FailedPrecondition", name, err)
		}
	}

	// The next locate does not answer the dead life's lease: it takes over,
	// with a higher epoch, for the live incarnation.
	got, err := addrs.LocateOrPlace(bg, &orbitv1.LocateOrPlaceRequest{Reference: victim})
	if err != nil {
		t.Fatal(err)
	}
	if !got.Placed || got.Lease.Epoch <= placed.Lease.Epoch || got.Lease.NodeIncarnation != again.Lease.Incarnation {
		t.Fatalf("locate after re-join = placed %v epoch %d incarnation %d; want a takeover above epoch %d for incarnation %d",
			got.Placed, got.Lease.Epoch, got.Lease.NodeIncarnation, placed.Lease.Epoch, again.Lease.Incarnation)
	}
	if _, err := addrs.RenewLease(bg, &orbitv1.RenewLeaseRequest{Reference: victim, Node: again.Id, Epoch: got.Lease.Epoch, ChallengeToken: again.Lease.ChallengeToken}); err != nil {
		t.Fatalf("the live incarnation renewing its own lease: %v", err)
	}

	// The listing shows the incarnation, and no owner for an anonymous join.
	list, err := nodes.ListNodes(bg, &orbitv1.ListNodesRequest{})
	if err != nil || len(list.Nodes) != 1 {
		t.Fatalf("list = %v, %v", list, err)
	}
	if n := list.Nodes[0]; n.Incarnation != again.Lease.Incarnation || n.Owner != "" || n.Url != "grpc://127.0.0.1:2" {
		t.Fatalf("listed node = %v", n)
	}
}
