package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/orbit-go/orbit"
	orbitv1 "github.com/orbit-go/orbit/api/orbit/v1"
	"github.com/orbit-go/orbit/persistence"
	"github.com/orbit-go/orbit/server/audit"
	"github.com/orbit-go/orbit/server/auth"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// nodeService implements orbit.v1.NodeService.
type nodeService struct {
	orbitv1.UnimplementedNodeServiceServer
	s *Server
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on Linux
	return hex.EncodeToString(b)
}

func (n *nodeService) Join(ctx context.Context, req *orbitv1.JoinRequest) (*orbitv1.JoinResponse, error) {
	s := n.s
	id := orbit.NodeID{Namespace: s.namespaceOr(req.GetNamespace()), Key: req.GetNodeKey()}
	if id.Key == "" {
		id.Key = "node-" + randomHex(8)
	}
	caps := orbit.NodeCapabilities{
		AddressableTypes: req.GetCapabilities().GetAddressableTypes(),
		MaxAddressables:  int(req.GetCapabilities().GetMaxAddressables()),
		Tags:             req.GetCapabilities().GetTags(),
	}
	now := s.clock.Now()
	info := orbit.NodeInfo{
		ID: id, URL: req.GetUrl(), Capabilities: caps, Status: orbit.NodeActive,
		Lease: orbit.NodeLease{
			ExpiresAt: now.Add(s.timings.NodeLeaseTTL), RenewAt: now.Add(s.timings.renewInterval()),
			ChallengeToken: randomHex(16),
		},
	}
	if who := auth.FromContext(ctx); who.Kind != auth.Anonymous {
		info.Owner = who.String()
	}
	ev := nodeEvent(audit.NodeJoin, id)
	if err := info.Validate(); err != nil {
		return nil, s.audited(ctx, ev, toStatus(err))
	}
	joined, err := s.nodes.Join(ctx, info)
	if errors.Is(err, orbit.ErrConflict) {
		return nil, s.audited(ctx, ev, status.Errorf(codes.AlreadyExists, "node %s is already a live member of the cluster", id))
	}
	if err != nil {
		return nil, s.audited(ctx, ev, toStatus(err))
	}
	info = joined
	s.cache.invalidate(id.Namespace)
	ev.Incarnation = info.Lease.Incarnation
	_ = s.audited(ctx, ev, nil)
	who := auth.FromContext(ctx)
	s.log.Debug("node joined", "node", id.String(), "url", info.URL, "types", caps.AddressableTypes,
		"identity", who.String(), "peer", who.Peer)
	return &orbitv1.JoinResponse{Id: orbitv1.NodeIDToProto(id), Lease: nodeLeaseToProto(info.Lease)}, nil
}

func (n *nodeService) RenewLease(ctx context.Context, req *orbitv1.RenewNodeLeaseRequest) (*orbitv1.RenewNodeLeaseResponse, error) {
	id, err := n.s.nodeID(req.GetId())
	if err != nil {
		return nil, err
	}
	if err := n.s.checkOwner(ctx, id); err != nil {
		return nil, n.s.audited(ctx, nodeEvent(audit.NodeRenewRefused, id), err)
	}
	l, err := n.s.nodes.RenewLease(ctx, id, req.GetChallengeToken(), n.s.timings.NodeLeaseTTL)
	if err != nil {
		return nil, n.s.audited(ctx, nodeEvent(audit.NodeRenewRefused, id), toStatus(err))
	}
	// The node's schedule is the server's (the directory stores a sixth of
	// the TTL, the default).
	l.RenewAt = l.ExpiresAt.Add(-n.s.timings.NodeLeaseTTL + n.s.timings.renewInterval())
	n.s.metrics.nodeRenewals.Inc()
	return &orbitv1.RenewNodeLeaseResponse{Lease: nodeLeaseToProto(l)}, nil
}

// authenticate checks that token is the challenge token of id's live
// incarnation, from the cache when it knows the node, else from the
// directory, and returns that node (its incarnation binds what the caller
// may renew or release).
func (s *Server) authenticate(ctx context.Context, id orbit.NodeID, token string) (orbit.NodeInfo, error) {
	if v, err := s.cache.get(ctx, id.Namespace); err == nil {
		if n, ok := v.byKey[id.Key]; ok && n.Live(s.clock.Now()) && n.Lease.TokenMatches(token) {
			return ownedBy(ctx, n)
		}
	}
	n, err := s.nodes.Get(ctx, id)
	if err != nil {
		return orbit.NodeInfo{}, toStatus(err)
	}
	if !n.Lease.TokenMatches(token) {
		return orbit.NodeInfo{}, status.Errorf(codes.FailedPrecondition, "node %s: challenge token does not match", id)
	}
	return ownedBy(ctx, n)
}

func (n *nodeService) Leave(ctx context.Context, req *orbitv1.LeaveRequest) (*orbitv1.LeaveResponse, error) {
	s := n.s
	id, err := s.nodeID(req.GetId())
	if err != nil {
		return nil, err
	}
	ev := nodeEvent(audit.NodeLeave, id)
	self, err := s.authenticate(ctx, id, req.GetChallengeToken())
	if err != nil {
		return nil, s.audited(ctx, ev, err)
	}
	ev.Incarnation = self.Lease.Incarnation
	// Leave the cluster first, so no new placement picks this node, then
	// release what it holds.
	if err := s.nodes.Remove(ctx, id); err != nil {
		return nil, s.audited(ctx, ev, toStatus(err))
	}
	s.cache.invalidate(id.Namespace)
	released := 0
	req2 := orbit.PageRequest{Limit: orbit.MaxPageSize}
	for {
		page, err := s.addrs.ListByNode(ctx, id, req2)
		if err != nil {
			ev.Count = int64(released)
			return nil, s.audited(ctx, ev, toStatus(fmt.Errorf("node %s left, releasing its leases: %w", id, err)))
		}
		for _, l := range page.Leases {
			if err := s.addrs.Release(ctx, l.Reference, id, l.Epoch, persistence.OfIncarnation(self.Lease.Incarnation)); err == nil {
				released++
			}
		}
		if page.NextPageToken == "" {
			break
		}
		req2.PageToken = page.NextPageToken
	}
	ev.Count = int64(released)
	_ = s.audited(ctx, ev, nil)
	s.log.Info("node left", "node", id.String(), "released_leases", released)
	return &orbitv1.LeaveResponse{ReleasedLeases: int32(released)}, nil
}

func (n *nodeService) ListNodes(ctx context.Context, req *orbitv1.ListNodesRequest) (*orbitv1.ListNodesResponse, error) {
	ns := n.s.namespaceOr(req.GetNamespace())
	var list []orbit.NodeInfo
	var err error
	if req.GetActiveOnly() {
		list, err = n.s.nodes.ListActive(ctx, ns)
	} else {
		list, err = n.s.nodes.ListAll(ctx, ns)
	}
	if err != nil {
		return nil, toStatus(err)
	}
	out := &orbitv1.ListNodesResponse{Nodes: make([]*orbitv1.Node, len(list))}
	for i, x := range list {
		out.Nodes[i] = nodeToProto(x)
	}
	return out, nil
}

// watchPoll is how often WatchNodes compares the directory with what it sent.
const watchPoll = 250 * time.Millisecond

// WatchNodes streams membership changes. It polls the cluster directory
// (portable across every backend) and sends the differences.
func (n *nodeService) WatchNodes(req *orbitv1.WatchNodesRequest, stream orbitv1.NodeService_WatchNodesServer) error {
	ns := n.s.namespaceOr(req.GetNamespace())
	if err := (orbit.NodeID{Namespace: ns, Key: "x"}).Validate(); err != nil {
		return toStatus(err)
	}
	ctx := stream.Context()
	known := map[string]orbit.NodeInfo{}
	first := true
	t := time.NewTicker(watchPoll)
	defer t.Stop()
	for {
		list, err := n.s.nodes.ListAll(ctx, ns)
		if err != nil {
			return toStatus(err)
		}
		seen := make(map[string]bool, len(list))
		for _, x := range list {
			seen[x.ID.Key] = true
			old, ok := known[x.ID.Key]
			kind := orbitv1.NodeEvent_KIND_UNSPECIFIED
			switch {
			case first:
				kind = orbitv1.NodeEvent_KIND_EXISTING
			case !ok:
				kind = orbitv1.NodeEvent_KIND_JOINED
			case old.Status != x.Status || old.URL != x.URL:
				kind = orbitv1.NodeEvent_KIND_UPDATED
			}
			known[x.ID.Key] = x
			if kind != orbitv1.NodeEvent_KIND_UNSPECIFIED {
				if err := stream.Send(&orbitv1.NodeEvent{Kind: kind, Node: nodeToProto(x)}); err != nil {
					return err
				}
			}
		}
		for key, x := range known {
			if !seen[key] {
				delete(known, key)
				if err := stream.Send(&orbitv1.NodeEvent{Kind: orbitv1.NodeEvent_KIND_LEFT, Node: nodeToProto(x)}); err != nil {
					return err
				}
			}
		}
		first = false
		select {
		case <-ctx.Done():
			return nil
		case <-n.s.stopping:
			return status.Error(codes.Unavailable, "server shutting down: watch again on another server")
		case <-t.C:
		}
	}
}
