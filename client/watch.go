package client

import (
	"context"
	"errors"
	"fmt"
	"iter"

	"github.com/cenkalti/backoff/v5"
	"github.com/orbit-go/orbit"
	orbitv1 "github.com/orbit-go/orbit/api/orbit/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// NodeEventKind says what a NodeEvent reports.
type NodeEventKind uint8

const (
	// NodeExisting: a node present when the watch started.
	NodeExisting NodeEventKind = iota + 1
	// NodeJoined: a node joined.
	NodeJoined
	// NodeUpdated: a node's URL, status or incarnation changed.
	NodeUpdated
	// NodeLeft: a node left or lapsed.
	NodeLeft
)

func (k NodeEventKind) String() string {
	switch k {
	case NodeExisting:
		return "existing"
	case NodeJoined:
		return "joined"
	case NodeUpdated:
		return "updated"
	case NodeLeft:
		return "left"
	}
	return fmt.Sprintf("NodeEventKind(%d)", uint8(k))
}

// NodeEvent is one membership change of the client's namespace.
type NodeEvent struct {
	Kind NodeEventKind
	// Node is the node after the change (for NodeLeft, as last seen). Its
	// Lease has ExpiresAt and Incarnation only.
	Node orbit.NodeInfo
}

var watchKinds = map[orbitv1.NodeEvent_Kind]NodeEventKind{
	orbitv1.NodeEvent_KIND_EXISTING: NodeExisting,
	orbitv1.NodeEvent_KIND_JOINED:   NodeJoined,
	orbitv1.NodeEvent_KIND_UPDATED:  NodeUpdated,
	orbitv1.NodeEvent_KIND_LEFT:     NodeLeft,
}

// WatchNodes streams the membership of the client's namespace: one
// NodeExisting per live node first, then every join, update and departure.
//
// The watch survives the death of the server it streams from: it opens a
// new stream on whichever server answers (with backoff), lists the nodes,
// and reports only what changed meanwhile — joins, updates and departures
// against what it had reported — so a consumer sees one consistent story.
// The sequence ends when ctx ends (without an error) or on an error that
// retrying cannot cure (a bad namespace, a denied call, a malformed
// response), which it yields last. Stop ranging to end the watch.
func (c *Client) WatchNodes(ctx context.Context) iter.Seq2[NodeEvent, error] {
	return func(yield func(NodeEvent, error) bool) {
		const op = "WatchNodes"
		if err := c.checkOpen(op); err != nil {
			yield(NodeEvent{}, err)
			return
		}
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		w := &nodeWatch{c: c, known: map[string]orbit.NodeInfo{}, yield: yield}
		retry := &backoff.ExponentialBackOff{InitialInterval: c.opts.backoffMin, RandomizationFactor: 0.5,
			Multiplier: 2, MaxInterval: c.opts.backoffMax}
		retry.Reset()
		resumed := false
		for {
			err := w.stream(ctx, resumed)
			if ctx.Err() != nil || errors.Is(err, errStopped) {
				return
			}
			if !watchRetryable(err) {
				yield(NodeEvent{}, err)
				return
			}
			c.log.Warn("orbit client: node watch interrupted, resuming", "error", err)
			if !sleepCtx(ctx, min(retry.NextBackOff(), c.opts.backoffMax)) {
				return
			}
			if w.received {
				retry.Reset()
			}
			resumed = true
		}
	}
}

// errStopped: the consumer stopped ranging.
var errStopped = errors.New("watch stopped by the consumer")

// nodeWatch is the state of one WatchNodes across its streams.
type nodeWatch struct {
	c        *Client
	known    map[string]orbit.NodeInfo // what the consumer was told is live
	yield    func(NodeEvent, error) bool
	received bool // the last stream delivered something
}

// stream runs one server stream until it fails. On a resumed watch the
// nodes that left meanwhile are reported from a listing, and the
// stream's initial NodeExisting events only when they differ from what
// the consumer knows.
func (w *nodeWatch) stream(ctx context.Context, resumed bool) error {
	const op = "WatchNodes"
	w.received = false
	s, err := w.c.nodes.WatchNodes(ctx, &orbitv1.WatchNodesRequest{Namespace: w.c.opts.namespace})
	if err != nil {
		return mapError(op, err)
	}
	if resumed {
		live, err := w.c.ListNodes(ctx, false)
		if err != nil {
			return err
		}
		present := make(map[string]bool, len(live))
		for _, n := range live {
			present[n.ID.Key] = true
		}
		for key, n := range w.known {
			if !present[key] {
				delete(w.known, key)
				if !w.yield(NodeEvent{Kind: NodeLeft, Node: n}, nil) {
					return errStopped
				}
			}
		}
	}
	for {
		ev, err := s.Recv()
		if err != nil {
			return mapError(op, err)
		}
		w.received = true
		n, err := nodeFromProto("node", ev.GetNode())
		if err != nil {
			return fmt.Errorf("orbit client: %s: %w", op, err)
		}
		kind, ok := watchKinds[ev.GetKind()]
		if !ok {
			return fmt.Errorf("orbit client: %s: %w", op, malformed("kind", "unknown event kind %d", ev.GetKind()))
		}
		old, had := w.known[n.ID.Key]
		if kind == NodeExisting && resumed {
			switch {
			case !had:
				kind = NodeJoined
			case old.URL != n.URL || old.Status != n.Status || old.Lease.Incarnation != n.Lease.Incarnation:
				kind = NodeUpdated
			default:
				w.known[n.ID.Key] = n
				continue // nothing changed while the watch was away
			}
		}
		if kind == NodeLeft {
			delete(w.known, n.ID.Key)
		} else {
			w.known[n.ID.Key] = n
		}
		if !w.yield(NodeEvent{Kind: kind, Node: n}, nil) {
			return errStopped
		}
	}
}

// watchRetryable: a broken stream is resumed unless the error is one a
// new stream would meet again.
func watchRetryable(err error) bool {
	if errors.Is(err, ErrBadResponse) || errors.Is(err, orbit.ErrInvalidArgument) || errors.Is(err, orbit.ErrUnsupported) || errors.Is(err, orbit.ErrClosed) {
		return false
	}
	switch status.Code(err) {
	case codes.PermissionDenied, codes.Unauthenticated:
		return false
	}
	return true
}
