package server

import (
	"context"
	"errors"

	"github.com/cespare/xxhash/v2"
	"github.com/orbit-go/orbit"
	orbitv1 "github.com/orbit-go/orbit/api/orbit/v1"
	"github.com/orbit-go/orbit/internal/cas"
	"github.com/orbit-go/orbit/persistence"
	"github.com/orbit-go/orbit/server/audit"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// addressableService implements orbit.v1.AddressableService.
type addressableService struct {
	orbitv1.UnimplementedAddressableServiceServer
	s *Server
}

// LocateOrPlace returns the addressable's current lease when its holder is
// alive, and otherwise places it (or takes it over from a holder that left
// or whose node lease expired) on a live node that hosts its type.
func (a *addressableService) LocateOrPlace(ctx context.Context, req *orbitv1.LocateOrPlaceRequest) (*orbitv1.LocateOrPlaceResponse, error) {
	ref, err := a.s.reference(req.GetReference())
	if err != nil {
		return nil, err
	}
	return a.s.locateOrPlace(ctx, ref)
}

// locatePolicy bounds the rounds of one locate-or-place that keeps finding
// the addressable moved by another server between its read and its write.
var locatePolicy = cas.Policy{Attempts: 8, Backoff: cas.DefaultBackoff}

func (s *Server) locateOrPlace(ctx context.Context, ref orbit.AddressableReference) (*orbitv1.LocateOrPlaceResponse, error) {
	resp, err := cas.Retry(ctx, locatePolicy, "locate or place", ref, func(int) (*orbitv1.LocateOrPlaceResponse, bool, error) {
		lease, err := s.addrs.Get(ctx, ref)
		switch {
		case err == nil:
			alive, err := s.holderAlive(ctx, lease)
			if err != nil {
				return nil, false, toStatus(err)
			}
			if alive {
				return &orbitv1.LocateOrPlaceResponse{Lease: s.leaseOut(ctx, lease)}, false, nil
			}
			ev := audit.Event{Kind: audit.Takeover, Namespace: ref.Namespace, Reference: ref.String(),
				PreviousNode: lease.Node.Key, EpochBefore: lease.Epoch}
			target, err := s.pickNode(ctx, ref, lease)
			if err != nil {
				return nil, false, s.audited(ctx, ev, err)
			}
			ev.Node, ev.Incarnation = target.ID.Key, target.Lease.Incarnation
			nl, err := s.addrs.Takeover(ctx, ref, lease.Node, lease.Epoch, target.ID, s.timings.AddressableLeaseTTL,
				persistence.OfIncarnation(target.Lease.Incarnation))
			if err == nil {
				s.metrics.placedTaken.Inc()
				ev.EpochAfter = nl.Epoch
				_ = s.audited(ctx, ev, nil)
				return &orbitv1.LocateOrPlaceResponse{Lease: s.leaseOut(ctx, nl), Placed: true}, false, nil
			}
			if !errors.Is(err, orbit.ErrConflict) && !errors.Is(err, orbit.ErrFenced) {
				return nil, false, s.audited(ctx, ev, toStatus(err))
			}
			return nil, true, nil // someone else moved it first: judge again
		case errors.Is(err, orbit.ErrNotFound):
			ev := audit.Event{Kind: audit.Place, Namespace: ref.Namespace, Reference: ref.String()}
			target, err := s.pickNode(ctx, ref, orbit.AddressableLease{})
			if err != nil {
				return nil, false, s.audited(ctx, ev, err)
			}
			ev.Node, ev.Incarnation = target.ID.Key, target.Lease.Incarnation
			nl, err := s.addrs.Place(ctx, ref, target.ID, s.timings.AddressableLeaseTTL,
				persistence.OfIncarnation(target.Lease.Incarnation))
			if err == nil {
				s.metrics.placedNew.Inc()
				ev.EpochAfter = nl.Epoch
				_ = s.audited(ctx, ev, nil)
				return &orbitv1.LocateOrPlaceResponse{Lease: s.leaseOut(ctx, nl), Placed: true}, false, nil
			}
			var lc *orbit.LeaseConflictError
			if !errors.As(err, &lc) {
				return nil, false, s.audited(ctx, ev, toStatus(err))
			}
			// Another server placed it first: its lease is the answer if
			// its holder is alive; judge again.
			return nil, true, nil
		default:
			return nil, false, toStatus(err)
		}
	})
	if errors.Is(err, cas.ErrLostRaces) {
		return nil, status.Errorf(codes.Aborted, "%v: too much contention, retry", err)
	}
	if err != nil {
		if _, ok := status.FromError(err); !ok {
			return nil, toStatus(err) // the context ended during a pause
		}
	}
	return resp, err
}

// holderAlive reports whether the incarnation of the node the lease was
// granted to is a live member: from the cache when it says so, confirmed
// in the directory otherwise. A node that re-joined under the same key is
// a new incarnation: the leases of its previous life are not alive.
func (s *Server) holderAlive(ctx context.Context, lease orbit.AddressableLease) (bool, error) {
	id := lease.Node
	if _, ok := s.cachedHolder(ctx, lease); ok {
		return true, nil
	}
	n, err := s.nodes.Get(ctx, id)
	switch {
	case err == nil:
		s.cache.invalidate(id.Namespace)
		return n.Lease.Incarnation == lease.NodeIncarnation, nil
	case errors.Is(err, orbit.ErrNotFound):
		return false, nil
	default:
		return false, err
	}
}

// pickNode chooses the node for ref by rendezvous (highest random weight)
// hashing over the live, active nodes of ref's namespace that host its
// type: placement spreads evenly, is the same on every server, and moves
// only the addressables of a node that goes away. The incarnation of the
// node gone holds is skipped (a node that re-joined under its key is a
// candidate again).
func (s *Server) pickNode(ctx context.Context, ref orbit.AddressableReference, gone orbit.AddressableLease) (orbit.NodeInfo, error) {
	v, err := s.cache.get(ctx, ref.Namespace)
	if err != nil {
		return orbit.NodeInfo{}, toStatus(err)
	}
	list := v.list
	now := s.clock.Now()
	refKey := ref.String()
	var best orbit.NodeInfo
	var bestScore uint64
	found := false
	h := xxhash.New()
	for _, n := range list {
		if (n.ID == gone.Node && n.Lease.Incarnation == gone.NodeIncarnation) || n.Status != orbit.NodeActive || !n.Live(now) || !n.Capabilities.Hosts(ref.Type) {
			continue
		}
		h.Reset()
		_, _ = h.WriteString(refKey)
		_, _ = h.WriteString("\x00")
		_, _ = h.WriteString(n.ID.Key)
		if score := h.Sum64(); !found || score > bestScore {
			best, bestScore, found = n, score, true
		}
	}
	if !found {
		return orbit.NodeInfo{}, status.Errorf(codes.Unavailable,
			"no live active node in namespace %q hosts addressable type %q", ref.Namespace, ref.Type)
	}
	return best, nil
}

// holderRequest parses the (reference, node) of a holder's request,
// checks the node's challenge token and returns the option that binds the
// write to the node's live incarnation.
func (s *Server) holderRequest(ctx context.Context, r *orbitv1.AddressableReference, n *orbitv1.NodeId, token string) (orbit.AddressableReference, orbit.NodeID, persistence.LeaseOption, error) {
	ref, err := s.reference(r)
	if err != nil {
		return ref, orbit.NodeID{}, persistence.LeaseOption{}, err
	}
	id, err := s.nodeID(n)
	if err != nil {
		return ref, id, persistence.LeaseOption{}, err
	}
	node, err := s.authenticate(ctx, id, token)
	if status.Code(err) == codes.NotFound {
		// The holder's node lapsed or left: whatever it held is fenced.
		return ref, id, persistence.LeaseOption{}, status.Errorf(codes.FailedPrecondition,
			"node %s is not a live member of the cluster (its lease lapsed or it left): its leases are fenced", id)
	}
	if err != nil {
		return ref, id, persistence.LeaseOption{}, err
	}
	return ref, id, persistence.OfIncarnation(node.Lease.Incarnation), nil
}

func (a *addressableService) RenewLease(ctx context.Context, req *orbitv1.RenewLeaseRequest) (*orbitv1.RenewLeaseResponse, error) {
	ref, node, self, err := a.s.holderRequest(ctx, req.GetReference(), req.GetNode(), req.GetChallengeToken())
	ev := leaseEvent(audit.RenewRefused, ref, node)
	ev.EpochBefore = req.GetEpoch()
	if err != nil {
		return nil, a.s.auditedHolder(ctx, ev, err)
	}
	l, err := a.s.addrs.Renew(ctx, ref, node, req.GetEpoch(), a.s.timings.AddressableLeaseTTL, self)
	if err != nil {
		return nil, a.s.audited(ctx, ev, toStatus(err))
	}
	a.s.metrics.leaseRenewals.Inc()
	return &orbitv1.RenewLeaseResponse{Lease: a.s.leaseOut(ctx, l)}, nil
}

func (a *addressableService) Abandon(ctx context.Context, req *orbitv1.AbandonRequest) (*orbitv1.AbandonResponse, error) {
	ref, node, self, err := a.s.holderRequest(ctx, req.GetReference(), req.GetNode(), req.GetChallengeToken())
	ev := leaseEvent(audit.Abandon, ref, node)
	ev.EpochBefore = req.GetEpoch()
	if err != nil {
		return nil, a.s.auditedHolder(ctx, ev, err)
	}
	if err := a.s.addrs.Release(ctx, ref, node, req.GetEpoch(), self); err != nil {
		return nil, a.s.audited(ctx, ev, toStatus(err))
	}
	return &orbitv1.AbandonResponse{}, a.s.audited(ctx, ev, nil)
}

func (a *addressableService) ListLeases(ctx context.Context, req *orbitv1.ListLeasesRequest) (*orbitv1.ListLeasesResponse, error) {
	node, err := a.s.nodeID(req.GetNode())
	if err != nil {
		return nil, err
	}
	if req.GetPageSize() < 0 {
		return nil, status.Errorf(codes.InvalidArgument, "page_size: %d must be >= 0", req.GetPageSize())
	}
	page, err := a.s.addrs.ListByNode(ctx, node, orbit.PageRequest{PageToken: req.GetPageToken(), Limit: int(req.GetPageSize())})
	if err != nil {
		return nil, toStatus(err)
	}
	out := &orbitv1.ListLeasesResponse{NextPageToken: page.NextPageToken, Leases: make([]*orbitv1.AddressableLease, len(page.Leases))}
	for i, l := range page.Leases {
		out.Leases[i] = a.s.leaseOut(ctx, l)
	}
	return out, nil
}
