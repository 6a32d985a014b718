package auth

import (
	"strings"

	"github.com/orbit-go/orbit/persistence/config"
)

// Role is what a grant allows in a namespace.
type Role string

// The roles. Admin includes every other role; the others are distinct (a
// node that also locates addressables needs both node and client).
const (
	// Reader lists nodes and leases and watches membership.
	Reader Role = "reader"
	// Client locates and places addressables.
	Client Role = "client"
	// Node joins, renews and leaves its own node and renews and abandons
	// its own node's leases.
	Node Role = "node"
	// Admin does everything, on any node.
	Admin Role = "admin"
)

// AnyNamespace in a grant is every namespace; asked of Allows it means
// "some namespace" (the admin port and reflection are not per namespace).
const AnyNamespace = "*"

// Policy maps identities to roles per namespace, from grants.
type Policy struct {
	grants []config.AuthGrant
}

// NewPolicy returns the policy of gs (parsed by config.ParseAuthGrant).
func NewPolicy(gs []config.AuthGrant) *Policy {
	return &Policy{grants: append([]config.AuthGrant(nil), gs...)}
}

// grantMatches reports whether g names id: its kind (when the grant
// restricts it) and its name, exactly or by the prefix before a final '*'.
func grantMatches(g config.AuthGrant, id Identity) bool {
	if id.Name == "" || id.Kind == Anonymous {
		return false
	}
	if g.Kind != "" && g.Kind != string(id.Kind) {
		return false
	}
	if p, ok := strings.CutSuffix(g.Identity, "*"); ok {
		return strings.HasPrefix(id.Name, p)
	}
	return g.Identity == id.Name
}

// Allows reports whether id has role (or admin) in namespace ns; with ns
// AnyNamespace, in at least one namespace. An anonymous identity has no
// role.
func (p *Policy) Allows(id Identity, role Role, ns string) bool {
	for _, g := range p.grants {
		if Role(g.Role) != role && Role(g.Role) != Admin {
			continue
		}
		if (g.Namespace == AnyNamespace || ns == AnyNamespace || g.Namespace == ns) && grantMatches(g, id) {
			return true
		}
	}
	return false
}

// Len is the number of grants.
func (p *Policy) Len() int { return len(p.grants) }
