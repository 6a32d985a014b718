package auth

import (
	"context"
	"errors"

	"strings"

	orbitv1 "github.com/orbit-go/orbit/api/orbit/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// rule is what one gRPC method requires: a role in each namespace its
// request names (namespaces nil: in some namespace), or nothing (open).
type rule struct {
	open       bool
	role       Role
	namespaces func(req any) []string
}

func nodeNS(id *orbitv1.NodeId) string { return id.GetNamespace() }

// rules is the method -> role table, the contract documented in
// docs/security-auth.md. A method not in it requires admin.
var rules = map[string]rule{
	orbitv1.NodeService_Join_FullMethodName: {role: Node, namespaces: func(r any) []string {
		return []string{r.(*orbitv1.JoinRequest).GetNamespace()}
	}},
	orbitv1.NodeService_RenewLease_FullMethodName: {role: Node, namespaces: func(r any) []string {
		return []string{nodeNS(r.(*orbitv1.RenewNodeLeaseRequest).GetId())}
	}},
	orbitv1.NodeService_Leave_FullMethodName: {role: Node, namespaces: func(r any) []string {
		return []string{nodeNS(r.(*orbitv1.LeaveRequest).GetId())}
	}},
	orbitv1.NodeService_ListNodes_FullMethodName: {role: Reader, namespaces: func(r any) []string {
		return []string{r.(*orbitv1.ListNodesRequest).GetNamespace()}
	}},
	orbitv1.NodeService_WatchNodes_FullMethodName: {role: Reader, namespaces: func(r any) []string {
		return []string{r.(*orbitv1.WatchNodesRequest).GetNamespace()}
	}},
	orbitv1.AddressableService_LocateOrPlace_FullMethodName: {role: Client, namespaces: func(r any) []string {
		return []string{r.(*orbitv1.LocateOrPlaceRequest).GetReference().GetNamespace()}
	}},
	orbitv1.AddressableService_Lookup_FullMethodName: {role: Client, namespaces: func(r any) []string {
		return []string{r.(*orbitv1.LookupRequest).GetReference().GetNamespace()}
	}},
	orbitv1.AddressableService_LocateOrPlaceBatch_FullMethodName: {role: Client, namespaces: func(r any) []string {
		refs := r.(*orbitv1.LocateOrPlaceBatchRequest).GetReferences()
		out := make([]string, 0, 1)
		for _, ref := range refs {
			out = append(out, ref.GetNamespace())
		}
		if len(out) == 0 {
			out = append(out, "")
		}
		return out
	}},
	orbitv1.AddressableService_RenewLease_FullMethodName: {role: Node, namespaces: func(r any) []string {
		q := r.(*orbitv1.RenewLeaseRequest)
		return []string{q.GetReference().GetNamespace(), nodeNS(q.GetNode())}
	}},
	orbitv1.AddressableService_Abandon_FullMethodName: {role: Node, namespaces: func(r any) []string {
		q := r.(*orbitv1.AbandonRequest)
		return []string{q.GetReference().GetNamespace(), nodeNS(q.GetNode())}
	}},
	orbitv1.AddressableService_ListLeases_FullMethodName: {role: Reader, namespaces: func(r any) []string {
		return []string{nodeNS(r.(*orbitv1.ListLeasesRequest).GetNode())}
	}},
	// Reflection describes the API, not its data: some reader role suffices.
	"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo":      {role: Reader},
	"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo": {role: Reader},
}

// healthPrefix: the health service stays open (load balancers probe it).
const healthPrefix = "/grpc.health.v1.Health/"

func ruleOf(method string) rule {
	if strings.HasPrefix(method, healthPrefix) {
		return rule{open: true}
	}
	if r, ok := rules[method]; ok {
		return r
	}
	return rule{role: Admin}
}

// RequiredRole is the role method requires ("" for an open method), for
// documentation and tests.
func RequiredRole(method string) Role {
	r := ruleOf(method)
	if r.open {
		return ""
	}
	return r.role
}

// authorize checks rule r for req (nil: a stream before its first
// message, only checked when r names no namespace).
func (a *Authenticator) authorize(id Identity, r rule, req any) error {
	if r.namespaces == nil {
		return a.Check(id, r.role, AnyNamespace)
	}
	seen := map[string]bool{}
	for _, ns := range r.namespaces(req) {
		if ns == "" {
			ns = a.defaultNS
		}
		if seen[ns] {
			continue
		}
		seen[ns] = true
		if err := a.Check(id, r.role, ns); err != nil {
			return err
		}
	}
	return nil
}

// grpcStatus converts an authentication or authorization error into the
// call's status: Unauthenticated (no valid credential) or
// PermissionDenied, the message naming the method.
func grpcStatus(method string, err error) error {
	var d *DeniedError
	switch {
	case errors.As(err, &d) && !d.Anonymous:
		return status.Errorf(codes.PermissionDenied, "%s: %v", method, err)
	default:
		return status.Errorf(codes.Unauthenticated, "%s: %v", method, err)
	}
}

// decision is what the interceptor put in the context: the authenticator
// that checked the call (for MayActAsNode).
type decisionKey struct{}

func withDecision(ctx context.Context, a *Authenticator, id Identity) context.Context {
	return context.WithValue(NewContext(ctx, id), decisionKey{}, a)
}

// Enforced reports whether an auth interceptor checked the call of ctx
// (false when auth is off).
func Enforced(ctx context.Context) bool {
	_, ok := ctx.Value(decisionKey{}).(*Authenticator)
	return ok
}

// UnaryInterceptor authenticates each call, checks the method's role in
// the namespaces of its request (an empty namespace is the default one)
// and passes on a context carrying the identity (NewContext). A refused
// call never reaches the handler, so it leaves no state behind.
func (a *Authenticator) UnaryInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	r := ruleOf(info.FullMethod)
	id, err := a.IdentifyGRPC(ctx)
	if r.open {
		return h(NewContext(ctx, id), req)
	}
	if err != nil {
		return nil, grpcStatus(info.FullMethod, err)
	}
	if err := a.authorize(id, r, req); err != nil {
		return nil, grpcStatus(info.FullMethod, err)
	}
	return h(withDecision(ctx, a, id), req)
}

// StreamInterceptor is UnaryInterceptor for streams: the caller is
// authenticated when the stream opens; a rule per namespace is checked on
// the first request message (RecvMsg fails with the denial, before the
// handler acts on it).
func (a *Authenticator) StreamInterceptor(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	r := ruleOf(info.FullMethod)
	ctx := ss.Context()
	id, err := a.IdentifyGRPC(ctx)
	if r.open {
		return h(srv, &authedStream{ServerStream: ss, ctx: NewContext(ctx, id), checked: true})
	}
	if err != nil {
		return grpcStatus(info.FullMethod, err)
	}
	if r.namespaces == nil {
		if err := a.authorize(id, r, nil); err != nil {
			return grpcStatus(info.FullMethod, err)
		}
		return h(srv, &authedStream{ServerStream: ss, ctx: withDecision(ctx, a, id), checked: true})
	}
	return h(srv, &authedStream{ServerStream: ss, ctx: withDecision(ctx, a, id),
		check: func(m any) error {
			if err := a.authorize(id, r, m); err != nil {
				return grpcStatus(info.FullMethod, err)
			}
			return nil
		}})
}

// authedStream carries the identity and checks each received message
// against the method's rule (every message: a client stream could name
// another namespace later).
type authedStream struct {
	grpc.ServerStream
	ctx     context.Context
	checked bool
	check   func(m any) error
}

func (s *authedStream) Context() context.Context { return s.ctx }

func (s *authedStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	if s.checked {
		return nil
	}
	return s.check(m)
}
