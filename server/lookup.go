package server

import (
	"context"
	"errors"

	"github.com/orbit-go/orbit"
	orbitv1 "github.com/orbit-go/orbit/api/orbit/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Lookup answers the live lease of a reference whose holder is a live
// member, without placing anything: NotFound when there is none (no lease,
// or its holder's incarnation is gone; the next LocateOrPlace places it).
func (a *addressableService) Lookup(ctx context.Context, req *orbitv1.LookupRequest) (*orbitv1.LookupResponse, error) {
	s := a.s
	ref, err := s.reference(req.GetReference())
	if err != nil {
		return nil, err
	}
	lease, err := s.addrs.Get(ctx, ref)
	if errors.Is(err, orbit.ErrNotFound) {
		return nil, status.Errorf(codes.NotFound, "addressable %s has no lease", ref)
	}
	if err != nil {
		return nil, toStatus(err)
	}
	alive, err := s.holderAlive(ctx, lease)
	if err != nil {
		return nil, toStatus(err)
	}
	if !alive {
		return nil, status.Errorf(codes.NotFound, "addressable %s has no live holder (node %s is gone); LocateOrPlace places it", ref, lease.Node)
	}
	return &orbitv1.LookupResponse{Lease: s.leaseOut(ctx, lease)}, nil
}

// leaseOut is the lease as the API answers it, with the holder's URL when
// the node cache knows the holder's incarnation live.
func (s *Server) leaseOut(ctx context.Context, l orbit.AddressableLease) *orbitv1.AddressableLease {
	holder, _ := s.cachedHolder(ctx, l)
	return leaseWithURL(l, holder)
}

// leaseWithURL is l as the API answers it, naming holder's URL (none for
// the zero NodeInfo).
func leaseWithURL(l orbit.AddressableLease, holder orbit.NodeInfo) *orbitv1.AddressableLease {
	out := leaseToProto(l)
	out.NodeUrl = holder.URL
	return out
}
