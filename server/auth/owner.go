package auth

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// MayActAsNode decides whether the caller of ctx may act as the node named
// node (its "namespace/key" form) in namespace ns, joined by owner (the
// Identity.String() of its joiner, "" when auth was off then). It is nil
// when auth is off (no interceptor checked the call), when the caller has
// role admin in ns, or when the caller joined the node; otherwise a
// PermissionDenied status naming the node (never the owner's credential).
func MayActAsNode(ctx context.Context, ns, node, owner string) error {
	a, ok := ctx.Value(decisionKey{}).(*Authenticator)
	if !ok {
		return nil
	}
	id := FromContext(ctx)
	if a.policy.Allows(id, Admin, ns) {
		return nil
	}
	if owner != "" && owner == id.String() {
		return nil
	}
	return status.Errorf(codes.PermissionDenied,
		"node %s was joined by another identity: %s may act only on the nodes it joined (role %q in namespace %q acts on any)",
		node, id, Admin, ns)
}
