package client

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/orbit-go/orbit"
	orbitv1 "github.com/orbit-go/orbit/api/orbit/v1"
)

// NodeOptions describe a node joining the cluster.
type NodeOptions struct {
	// Key is the node's key within the namespace; "" lets the server
	// generate a random one.
	Key string
	// URL is where the node can be reached by its peers (opaque to Orbit).
	URL string
	// Capabilities say which addressable types the node hosts: placements
	// only choose nodes that list the addressable's type.
	Capabilities orbit.NodeCapabilities
	// OnLeaseLost, if set, is called once, on its own goroutine, when the
	// node's membership lease is lost: the server answered a renewal with a
	// permanent error (orbit.ErrFenced or ErrNotFound: the cluster
	// dropped the node) or the lease expired before a renewal succeeded.
	// The error wraps ErrLeaseLost and the cause. It is not called after
	// Leave, Detach or Client.Close stopped the renewal. It may call Leave.
	OnLeaseLost func(error)
}

// Node is a cluster membership obtained with Client.Join. While it is a
// member it renews its node lease in the background at the server-given
// RenewAt, retrying transient failures with backoff until the lease
// expires. It also acts, as the holder, on the addressable leases placed on
// it. Its methods are safe for concurrent use.
type Node struct {
	c      *Client
	id     orbit.NodeID
	onLost func(error)
	cancel context.CancelFunc // stops the renewal loop
	done   chan struct{}      // closed when the renewal loop has returned

	mu      sync.Mutex
	lease   orbit.NodeLease
	err     error // why renewal stopped on its own (wraps ErrLeaseLost)
	stopped bool  // renewal stopped by Leave, Detach or Close

	leaveMu sync.Mutex
	left    bool
}

// Join makes the caller a node of the cluster, in the client's namespace,
// and starts renewing its lease in the background. The returned node is
// left by Node.Leave or by Client.Close. Errors: orbit.ErrInvalidArgument
// for bad options (the message names the field), orbit.ErrConflict if
// the key is taken by a live node (as the server reports it).
func (c *Client) Join(ctx context.Context, o NodeOptions) (*Node, error) {
	const op = "Join"
	if err := c.checkOpen(op); err != nil {
		return nil, err
	}
	caps, err := capsToProto(o.Capabilities)
	if err != nil {
		return nil, err
	}
	if err := checkUTF8("node_key", o.Key); err != nil {
		return nil, err
	}
	if err := checkUTF8("url", o.URL); err != nil {
		return nil, err
	}
	resp, err := c.nodes.Join(ctx, &orbitv1.JoinRequest{
		Namespace: c.opts.namespace, NodeKey: o.Key, Url: o.URL, Capabilities: caps,
	})
	if err != nil {
		return nil, mapError(op, err)
	}
	id, err := nodeIDFromProto("id", resp.GetId())
	if err != nil {
		return nil, fmt.Errorf("orbit client: %s: %w", op, err)
	}
	lease, err := nodeLeaseFromProto("lease", resp.GetLease())
	if err == nil && lease.ChallengeToken == "" {
		err = malformed("lease.challenge_token", "missing")
	}
	if err != nil {
		return nil, fmt.Errorf("orbit client: %s: node %s: %w", op, id, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &Node{c: c, id: id, onLost: o.OnLeaseLost, cancel: cancel, done: make(chan struct{}), lease: lease}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		cancel()
		close(n.done)
		lctx, lcancel := context.WithTimeout(context.Background(), c.opts.callTimeout)
		defer lcancel()
		_, _ = c.nodes.Leave(lctx, &orbitv1.LeaveRequest{Id: orbitv1.NodeIDToProto(id), ChallengeToken: lease.ChallengeToken})
		return nil, fmt.Errorf("orbit client: %s: client closed during the call: %w", op, orbit.ErrClosed)
	}
	c.joined[n] = struct{}{}
	c.mu.Unlock()
	go n.run(ctx)
	return n, nil
}

// ID returns the node's id (namespace and key).
func (n *Node) ID() orbit.NodeID { return n.id }

// Lease returns the node's current membership lease, as last granted or
// renewed by the server. It includes the challenge token, a secret: do not
// log or share it.
func (n *Node) Lease() orbit.NodeLease {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.lease
}

// Done returns a channel closed when the background renewal has stopped,
// whether by Leave, Detach, Client.Close or because the lease was lost.
func (n *Node) Done() <-chan struct{} { return n.done }

// Err returns nil while the node is renewing or after it was stopped on
// purpose, and the error given to OnLeaseLost once the lease is lost.
func (n *Node) Err() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.err
}

// run is the renewal goroutine.
func (n *Node) run(ctx context.Context) {
	err := n.renewLoop(ctx)
	n.mu.Lock()
	report := err != nil && !n.stopped
	if report {
		n.err = err
	}
	n.mu.Unlock()
	close(n.done)
	if !report {
		return
	}
	n.c.forget(n)
	n.c.log.Warn("orbit client: node lease lost", "node", n.id.String(), "error", err)
	if n.onLost != nil {
		n.onLost(err)
	}
}

// stopRenewal stops the background renewal without leaving and waits for it.
func (n *Node) stopRenewal() {
	n.mu.Lock()
	n.stopped = true
	n.mu.Unlock()
	n.cancel()
	<-n.done
}

// Detach stops the background renewal without leaving the cluster, as if the
// process had crashed: the server drops the node once its lease expires and
// places its addressables elsewhere. OnLeaseLost is not called, and
// Client.Close no longer leaves the node. The node may still Leave
// explicitly (while its lease is live) and act on its addressable leases.
// Meant for tests and failover drills.
func (n *Node) Detach() {
	n.stopRenewal()
	n.c.forget(n)
}

// Leave stops the background renewal and leaves the cluster: the server
// releases the node's addressable leases. Leaving a node the server no
// longer knows (expired or already left) succeeds, and so does leaving
// twice. If the call fails (e.g. orbit.ErrUnavailable) the renewal
// stays stopped and Leave may be retried.
func (n *Node) Leave(ctx context.Context) error {
	if err := n.c.checkOpen("Leave"); err != nil {
		n.leaveMu.Lock()
		defer n.leaveMu.Unlock()
		if n.left {
			return nil
		}
		return err
	}
	return n.leave(ctx)
}

func (n *Node) leave(ctx context.Context) error {
	n.leaveMu.Lock()
	defer n.leaveMu.Unlock()
	if n.left {
		return nil
	}
	n.stopRenewal()
	lost := n.Err() != nil
	_, err := n.c.nodes.Leave(ctx, &orbitv1.LeaveRequest{Id: orbitv1.NodeIDToProto(n.id), ChallengeToken: n.Lease().ChallengeToken})
	err = mapError("Leave", err)
	if err != nil && !errors.Is(err, orbit.ErrNotFound) && !(lost && errors.Is(err, orbit.ErrFenced)) {
		return fmt.Errorf("node %s: %w", n.id, err)
	}
	n.left = true
	n.c.forget(n)
	return nil
}

// RenewAddressable extends the lease of ref held by this node at epoch and
// returns the renewed lease. An empty ref.Namespace means the client's.
// orbit.ErrFenced: the node does not hold ref at that epoch (the lease
// moved, expired and was re-placed, or the node lost its membership);
// orbit.ErrNotFound: ref has no live lease.
func (n *Node) RenewAddressable(ctx context.Context, ref orbit.AddressableReference, epoch uint64) (orbit.AddressableLease, error) {
	const op = "RenewLease"
	if err := n.c.checkOpen(op); err != nil {
		return orbit.AddressableLease{}, err
	}
	ref.Namespace = n.c.withNamespace(ref.Namespace)
	pref, err := refToProto(ref)
	if err != nil {
		return orbit.AddressableLease{}, err
	}
	resp, err := n.c.addrs.RenewLease(ctx, &orbitv1.RenewLeaseRequest{
		Reference: pref, Node: orbitv1.NodeIDToProto(n.id), Epoch: epoch, ChallengeToken: n.Lease().ChallengeToken,
	})
	if err != nil {
		return orbit.AddressableLease{}, mapError(op, err)
	}
	lease, err := leaseFromProto("lease", resp.GetLease())
	if err != nil {
		return orbit.AddressableLease{}, fmt.Errorf("orbit client: %s %s: %w", op, ref, err)
	}
	return lease, nil
}

// Abandon releases the lease of ref held by this node at epoch, so that the
// next LocateOrPlace places ref anew (with a higher epoch). Errors as for
// RenewAddressable.
func (n *Node) Abandon(ctx context.Context, ref orbit.AddressableReference, epoch uint64) error {
	const op = "Abandon"
	if err := n.c.checkOpen(op); err != nil {
		return err
	}
	ref.Namespace = n.c.withNamespace(ref.Namespace)
	pref, err := refToProto(ref)
	if err != nil {
		return err
	}
	_, err = n.c.addrs.Abandon(ctx, &orbitv1.AbandonRequest{
		Reference: pref, Node: orbitv1.NodeIDToProto(n.id), Epoch: epoch, ChallengeToken: n.Lease().ChallengeToken,
	})
	return mapError(op, err)
}

// ListLeases returns one page of the live addressable leases this node
// holds; see Client.ListNodeLeases for the paging contract.
func (n *Node) ListLeases(ctx context.Context, pageToken string, pageSize int) (orbit.LeasePage, error) {
	return n.c.ListNodeLeases(ctx, n.id, pageToken, pageSize)
}
