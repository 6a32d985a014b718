package server

import (
	"context"
	"fmt"

	"github.com/orbit-go/orbit"
	orbitv1 "github.com/orbit-go/orbit/api/orbit/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// joinAdmission enforces MaxNodesPerNamespace and MaxNamespaces on Join,
// before the handler runs. Joins are admitted one at a time per server
// (they are rare: a node joins once per life), so a flood of concurrent
// joins cannot overshoot the limits between the count and the write.
//
// The node count is the directory's (authoritative for every server of the
// cluster); the namespace count is the node cache's, i.e. the namespaces
// with live nodes that this server has seen. A re-join of a key that is
// live in the namespace adds no node and is let through (the handler
// answers it AlreadyExists).
type joinAdmission struct {
	s   *Server
	sem chan struct{} // capacity 1: one admission at a time
}

func newJoinAdmission(s *Server) *joinAdmission {
	return &joinAdmission{s: s, sem: make(chan struct{}, 1)}
}

func (a *joinAdmission) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	r, ok := req.(*orbitv1.JoinRequest)
	if !ok || info.FullMethod != orbitv1.NodeService_Join_FullMethodName {
		return h(ctx, req)
	}
	s := a.s
	ns := s.namespaceOr(r.GetNamespace())
	if err := (orbit.NodeID{Namespace: ns, Key: "x"}).Validate(); err != nil {
		return h(ctx, req) // the handler names what is wrong
	}
	select {
	case a.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, toStatus(fmt.Errorf("join admission for namespace %q: %w", ns, ctx.Err()))
	}
	defer func() { <-a.sem }()
	if err := a.admit(ctx, ns, r.GetNodeKey()); err != nil {
		return nil, err
	}
	resp, err := h(ctx, req)
	if err == nil {
		s.cache.noteJoined(ns)
	}
	return resp, err
}

// admit answers ResourceExhausted when a join of key into ns would exceed
// a limit.
func (a *joinAdmission) admit(ctx context.Context, ns, key string) error {
	s := a.s
	list, err := s.nodes.ListAll(ctx, ns)
	if err != nil {
		return toStatus(fmt.Errorf("join admission: list the nodes of namespace %q: %w", ns, err))
	}
	if key != "" {
		for _, n := range list {
			if n.ID.Key == key {
				return nil // a re-join of a live key adds nothing
			}
		}
	}
	if max := s.limits.MaxNodesPerNamespace; len(list) >= max {
		return status.Errorf(codes.ResourceExhausted, "namespace %q has %d live nodes, the limit (server.limits.max_nodes_per_namespace) is %d", ns, len(list), max)
	}
	if len(list) > 0 {
		return nil
	}
	max := s.limits.MaxNamespaces
	if s.cache.namespaces(ns) < max {
		return nil
	}
	if err := s.cache.prune(ctx); err != nil {
		return toStatus(fmt.Errorf("join admission: count the namespaces with nodes: %w", err))
	}
	if n := s.cache.namespaces(ns); n >= max {
		return status.Errorf(codes.ResourceExhausted, "namespace %q would be one more than the %d namespaces with nodes, the limit (server.limits.max_namespaces) is %d", ns, n, max)
	}
	return nil
}
