package server

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
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
			ExpiresAt: now.Add(s.timings.NodeLeaseTTL), RenewAt: now.Add(s.timings.RenewInterval()),
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
	l.RenewAt = l.ExpiresAt.Add(-n.s.timings.NodeLeaseTTL + n.s.timings.RenewInterval())
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

// ListNodes answers one page of the namespace's live nodes, in key order.
// The page token is the last key sent (encoded), so paging is stable while
// nodes join and leave: a node is sent at most once, and one present for
// the whole listing is sent exactly once.
func (n *nodeService) ListNodes(ctx context.Context, req *orbitv1.ListNodesRequest) (*orbitv1.ListNodesResponse, error) {
	s := n.s
	ns := s.namespaceOr(req.GetNamespace())
	size := int(req.GetPageSize())
	switch {
	case size < 0:
		return nil, status.Errorf(codes.InvalidArgument, "page_size: is %d, must be >= 0", size)
	case size == 0:
		size = s.limits.DefaultListPageSize
	case size > s.limits.MaxListPageSize:
		size = s.limits.MaxListPageSize
	}
	after, err := decodeNodePageToken(req.GetPageToken())
	if err != nil {
		return nil, err
	}
	var list []orbit.NodeInfo
	if req.GetActiveOnly() {
		list, err = s.nodes.ListActive(ctx, ns)
	} else {
		list, err = s.nodes.ListAll(ctx, ns)
	}
	if err != nil {
		return nil, toStatus(err)
	}
	slices.SortFunc(list, func(a, b orbit.NodeInfo) int { return strings.Compare(a.ID.Key, b.ID.Key) })
	from, _ := slices.BinarySearchFunc(list, after, func(x orbit.NodeInfo, key string) int { return strings.Compare(x.ID.Key, key) })
	if after != "" && from < len(list) && list[from].ID.Key == after {
		from++
	}
	page := list[from:]
	out := &orbitv1.ListNodesResponse{}
	if len(page) > size {
		page = page[:size]
		out.NextPageToken = encodeNodePageToken(page[len(page)-1].ID.Key)
	}
	out.Nodes = make([]*orbitv1.Node, len(page))
	for i, x := range page {
		out.Nodes[i] = nodeToProto(x)
	}
	return out, nil
}

// nodePageTokenPrefix marks the page tokens of ListNodes.
const nodePageTokenPrefix = "n1:"

func encodeNodePageToken(lastKey string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(nodePageTokenPrefix + lastKey))
}

// decodeNodePageToken returns the last key of the previous page ("" for
// the first page), or InvalidArgument naming page_token.
func decodeNodePageToken(tok string) (string, error) {
	if tok == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || !strings.HasPrefix(string(b), nodePageTokenPrefix) || len(b) == len(nodePageTokenPrefix) {
		return "", status.Error(codes.InvalidArgument, "page_token: not a ListNodes page token (pass the next_page_token of the previous page, or \"\")")
	}
	return string(b[len(nodePageTokenPrefix):]), nil
}

// watchPoll is how often WatchNodes compares the directory with what it sent.
const watchPoll = 250 * time.Millisecond

// WatchNodes streams membership changes. It polls the cluster directory
// (portable across every backend) and sends the differences.
//
// Open watches are bounded per caller and in total (server.limits
// max_watches_per_caller, max_watches): one more is answered
// ResourceExhausted naming the limit. Each poll's listing is bounded by
// the backend timeout.
func (n *nodeService) WatchNodes(req *orbitv1.WatchNodesRequest, stream orbitv1.NodeService_WatchNodesServer) error {
	ns := n.s.namespaceOr(req.GetNamespace())
	if err := (orbit.NodeID{Namespace: ns, Key: "x"}).Validate(); err != nil {
		return toStatus(err)
	}
	ctx := stream.Context()
	release, err := n.s.watches.acquire(ctx)
	if err != nil {
		return err
	}
	defer release()
	wake, unsubscribe := n.s.members.subscribe(ns)
	defer unsubscribe()
	known := map[string]orbit.NodeInfo{}
	first := true
	for {
		pctx, cancel := n.s.backendContext(ctx)
		list, err := n.s.nodes.ListAll(pctx, ns)
		cancel()
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
			case old.Status != x.Status || old.URL != x.URL || old.Lease.Incarnation != x.Lease.Incarnation:
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
		t := time.NewTimer(n.s.nextWatchPoll(known))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-n.s.stopping:
			t.Stop()
			return status.Error(codes.Unavailable, "server shutting down: watch again on another server")
		case <-wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// watchSafetyPoll is how often a stream lists its namespace when the
// directory's watch pushes changes: joins, departures and updates wake it
// at once, and a node that lapses (no write happens) is caught by a timer
// at the earliest expiry it knows.
const watchSafetyPoll = 5 * time.Second

// nextWatchPoll is how long a WatchNodes stream waits before listing
// again if nothing wakes it: watchPoll without a native watch; with one,
// until the earliest expiry among the nodes it knows (at least 10 ms, at
// most watchSafetyPoll).
func (s *Server) nextWatchPoll(known map[string]orbit.NodeInfo) time.Duration {
	if !s.members.watching() {
		return watchPoll
	}
	wait := watchSafetyPoll
	now := s.clock.Now()
	for _, n := range known {
		if d := n.Lease.ExpiresAt.Sub(now) + time.Millisecond; d < wait {
			wait = d
		}
	}
	return max(wait, 10*time.Millisecond)
}
