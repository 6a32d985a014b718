// Package client is the Go client of an Orbit cluster server.
//
// A Client is one gRPC connection to a server. Any process may use it to
// find (or place) the node hosting an addressable with LocateOrPlace, and to
// list the cluster's nodes. A process that hosts addressables joins the
// cluster with Join and gets a *Node, which renews its membership lease in
// the background for as long as it is a member, renews and abandons the
// addressable leases it holds, and leaves with Leave (or when the Client is
// closed).
//
// The API speaks the domain types of package orbit. Errors from the
// server are *Error values wrapping the portable errors of that package, so
// callers write errors.Is(err, orbit.ErrFenced) and so on.
//
// All methods are safe for concurrent use.
package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/orbit-go/orbit"
	orbitv1 "github.com/orbit-go/orbit/api/orbit/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// Client is a connection to the servers of an Orbit cluster. Create it
// with Dial and release it with Close.
type Client struct {
	conn   *grpc.ClientConn
	nodes  orbitv1.NodeServiceClient
	addrs  orbitv1.AddressableServiceClient
	opts   options
	target string
	log    *slog.Logger

	mu     sync.Mutex
	closed bool
	joined map[*Node]struct{} // nodes joined through this client and not yet left
}

// Dial connects to the servers of target and, unless WithConnectTimeout(0)
// is given, waits until one of them is ready: until ctx is done, or for
// the connect timeout (default 10 s) if ctx has no deadline. A cluster
// that cannot be reached in time is an error wrapping orbit.ErrUnavailable.
// The connection is plaintext unless WithTLS or a credentials dial option
// is given.
//
// target is one gRPC target — "host:port" or "dns:///name:port" (every
// address the name resolves to is a server), "unix:///path" — or several
// servers as "host:port,host:port,...". Calls are balanced over the
// servers that are ready and healthy, the calls that are safe to repeat
// are retried on another server when one is unavailable, and a call whose
// context has a deadline waits for a ready server until then instead of
// failing at once. Retried: LocateOrPlace, LocateOrPlaceBatch, Lookup,
// the renewals, Leave, ListNodes, ListLeases and WatchNodes; not Join or
// Abandon, whose repetition after a lost reply is not harmless.
func Dial(ctx context.Context, target string, opts ...Option) (*Client, error) {
	if target == "" {
		return nil, invalid("target", "must not be empty")
	}
	o := defaultOptions()
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	creds := insecure.NewCredentials()
	if o.useTLS {
		creds = credentials.NewTLS(o.tls)
	}
	grpcTarget, resolverOpts, err := resolveTarget(target)
	if err != nil {
		return nil, err
	}
	dialOpts := append([]grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithDefaultServiceConfig(serviceConfig),
		grpc.WithChainUnaryInterceptor(waitForReadyWithDeadline),
		grpc.WithChainStreamInterceptor(waitForReadyWithDeadlineStream),
	}, resolverOpts...)
	dialOpts = append(dialOpts, o.dialOpts...)
	conn, err := grpc.NewClient(grpcTarget, dialOpts...)
	if err != nil {
		return nil, fmt.Errorf("orbit client: dial %s: %v: %w", target, err, orbit.ErrInvalidArgument)
	}
	log := o.logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Client{
		conn: conn, nodes: orbitv1.NewNodeServiceClient(conn), addrs: orbitv1.NewAddressableServiceClient(conn),
		opts: o, target: target, log: log, joined: make(map[*Node]struct{}),
	}
	if o.connectTimeout == 0 {
		return c, nil
	}
	if err := c.waitReady(ctx); err != nil {
		_ = conn.Close()
		return nil, err
	}
	return c, nil
}

// waitReady waits until the connection is ready or the wait is over.
func (c *Client) waitReady(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.opts.connectTimeout)
		defer cancel()
	}
	c.conn.Connect()
	for {
		s := c.conn.GetState()
		if s == connectivity.Ready {
			return nil
		}
		if !c.conn.WaitForStateChange(ctx, s) {
			return fmt.Errorf("orbit client: dial %s: connection not ready (last state %s): %w: %w",
				c.target, s, ctx.Err(), orbit.ErrUnavailable)
		}
	}
}

// Namespace returns the namespace set with WithNamespace ("" = the server's
// default).
func (c *Client) Namespace() string { return c.opts.namespace }

// checkOpen returns an error wrapping orbit.ErrClosed after Close.
func (c *Client) checkOpen(op string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return fmt.Errorf("orbit client: %s: client is closed: %w", op, orbit.ErrClosed)
	}
	return nil
}

// withNamespace fills an empty namespace with the client's.
func (c *Client) withNamespace(ns string) string {
	if ns == "" {
		return c.opts.namespace
	}
	return ns
}

// LocateOrPlace returns the live lease of ref, placing ref on a live node
// that hosts its type if it has none; placed reports whether this call
// placed it. An empty ref.Namespace means the client's namespace. No node
// identity is needed. Errors: orbit.ErrInvalidArgument for a bad
// reference (the message names the field), orbit.ErrUnavailable when
// no live node hosts the type or the server cannot be reached.
func (c *Client) LocateOrPlace(ctx context.Context, ref orbit.AddressableReference) (lease orbit.AddressableLease, placed bool, err error) {
	const op = "LocateOrPlace"
	if err := c.checkOpen(op); err != nil {
		return orbit.AddressableLease{}, false, err
	}
	ref.Namespace = c.withNamespace(ref.Namespace)
	pref, err := refToProto(ref)
	if err != nil {
		return orbit.AddressableLease{}, false, err
	}
	resp, err := c.addrs.LocateOrPlace(ctx, &orbitv1.LocateOrPlaceRequest{Reference: pref})
	if err != nil {
		return orbit.AddressableLease{}, false, mapError(op, err)
	}
	lease, err = leaseFromProto("lease", resp.GetLease())
	if err != nil {
		return orbit.AddressableLease{}, false, fmt.Errorf("orbit client: %s %s: %w", op, ref, err)
	}
	return lease, resp.GetPlaced(), nil
}

// Lookup returns the live lease of ref without placing it (with the
// holder's URL in NodeURL): orbit.ErrNotFound when ref has no lease or its
// holder is gone. An empty ref.Namespace means the client's namespace.
func (c *Client) Lookup(ctx context.Context, ref orbit.AddressableReference) (orbit.AddressableLease, error) {
	const op = "Lookup"
	if err := c.checkOpen(op); err != nil {
		return orbit.AddressableLease{}, err
	}
	ref.Namespace = c.withNamespace(ref.Namespace)
	pref, err := refToProto(ref)
	if err != nil {
		return orbit.AddressableLease{}, err
	}
	resp, err := c.addrs.Lookup(ctx, &orbitv1.LookupRequest{Reference: pref})
	if err != nil {
		return orbit.AddressableLease{}, mapError(op, err)
	}
	lease, err := leaseFromProto("lease", resp.GetLease())
	if err != nil {
		return orbit.AddressableLease{}, fmt.Errorf("orbit client: %s %s: %w", op, ref, err)
	}
	return lease, nil
}

// ListNodes returns the cluster's live nodes in the client's namespace
// (only those with status Active if activeOnly), in key order, asking the
// server page by page (its default page size) until the last. Their Lease
// has ExpiresAt only: challenge tokens are never listed. A server that
// answers a page token it already sent is refused (the listing would not
// end).
func (c *Client) ListNodes(ctx context.Context, activeOnly bool) ([]orbit.NodeInfo, error) {
	const op = "ListNodes"
	if err := c.checkOpen(op); err != nil {
		return nil, err
	}
	var out []orbit.NodeInfo
	seen := map[string]bool{}
	for token, page := "", 0; ; page++ {
		resp, err := c.nodes.ListNodes(ctx, &orbitv1.ListNodesRequest{Namespace: c.opts.namespace, ActiveOnly: activeOnly, PageToken: token})
		if err != nil {
			return nil, mapError(op, err)
		}
		for i, n := range resp.GetNodes() {
			info, err := nodeFromProto(fmt.Sprintf("page %d: nodes[%d]", page, i), n)
			if err != nil {
				return nil, fmt.Errorf("orbit client: %s: %w", op, err)
			}
			out = append(out, info)
		}
		token = resp.GetNextPageToken()
		if token == "" {
			return out, nil
		}
		if seen[token] {
			return nil, fmt.Errorf("orbit client: %s: %w", op, malformed(fmt.Sprintf("page %d: next_page_token", page), "repeats a token of an earlier page"))
		}
		seen[token] = true
	}
}

// ListNodeLeases returns one page of the live addressable leases held by
// node (an empty node.Namespace means the client's namespace). pageToken ""
// starts from the beginning; pass the returned NextPageToken to continue
// ("" on the last page). pageSize 0 lets the server choose; sizes above the
// server's maximum are capped by it.
func (c *Client) ListNodeLeases(ctx context.Context, node orbit.NodeID, pageToken string, pageSize int) (orbit.LeasePage, error) {
	const op = "ListLeases"
	if err := c.checkOpen(op); err != nil {
		return orbit.LeasePage{}, err
	}
	if pageSize < 0 {
		return orbit.LeasePage{}, invalid("page_size", "is %d, must be >= 0", pageSize)
	}
	if err := checkUTF8("page_token", pageToken); err != nil {
		return orbit.LeasePage{}, err
	}
	node.Namespace = c.withNamespace(node.Namespace)
	if err := checkUTF8("node.namespace", node.Namespace); err != nil {
		return orbit.LeasePage{}, err
	}
	if err := checkUTF8("node.key", node.Key); err != nil {
		return orbit.LeasePage{}, err
	}
	resp, err := c.addrs.ListLeases(ctx, &orbitv1.ListLeasesRequest{
		Node: orbitv1.NodeIDToProto(node), PageToken: pageToken, PageSize: int32(min(pageSize, math.MaxInt32)),
	})
	if err != nil {
		return orbit.LeasePage{}, mapError(op, err)
	}
	page := orbit.LeasePage{NextPageToken: resp.GetNextPageToken(), Leases: make([]orbit.AddressableLease, 0, len(resp.GetLeases()))}
	for i, l := range resp.GetLeases() {
		lease, err := leaseFromProto(fmt.Sprintf("leases[%d]", i), l)
		if err != nil {
			return orbit.LeasePage{}, fmt.Errorf("orbit client: %s: %w", op, err)
		}
		page.Leases = append(page.Leases, lease)
	}
	return page, nil
}

// Close leaves the cluster with every node joined through this client that
// has not left yet (each Leave bounded by the call timeout), then closes the
// connection. It returns the errors of those steps joined; the client is
// closed in any case. Calls after Close fail with orbit.ErrClosed;
// closing twice returns nil.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	nodes := make([]*Node, 0, len(c.joined))
	for n := range c.joined {
		nodes = append(nodes, n)
	}
	c.mu.Unlock()

	var errs []error
	for _, n := range nodes {
		ctx, cancel := context.WithTimeout(context.Background(), c.opts.callTimeout)
		if err := n.leave(ctx); err != nil {
			errs = append(errs, fmt.Errorf("leave node %s: %w", n.ID(), err))
		}
		cancel()
	}
	if err := c.conn.Close(); err != nil {
		errs = append(errs, fmt.Errorf("orbit client: close connection: %w", err))
	}
	return errors.Join(errs...)
}

// forget removes n from the nodes Close leaves.
func (c *Client) forget(n *Node) {
	c.mu.Lock()
	delete(c.joined, n)
	c.mu.Unlock()
}

// backgroundTimeout is the per-call bound of background calls: the call
// timeout, capped by the time left until deadline (if not zero), and at
// least a millisecond.
func (c *Client) backgroundTimeout(deadline time.Time) time.Duration {
	d := c.opts.callTimeout
	if !deadline.IsZero() {
		if left := deadline.Sub(c.opts.clock.Now()); left < d {
			d = left
		}
	}
	return max(d, time.Millisecond)
}
