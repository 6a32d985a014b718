package statuspage

import (
	"context"
	"time"

	"github.com/orbit-go/orbit"
)

// Source is what the page shows, implemented by the server. Every method
// must be safe for concurrent use; none may probe a backend's health for
// the caller (health comes from the server's health loop).
type Source interface {
	// Status is a snapshot of the cluster as this server sees it. Its
	// lists are bounded by the Source (Truncated flags say when).
	Status(ctx context.Context) (Status, error)
	// Lookup answers the live lease of ref without placing it. A
	// reference without a live holder is Lookup{Found: false} with a
	// Reason, not an error; an error is a backend failure.
	Lookup(ctx context.Context, ref orbit.AddressableReference) (Lookup, error)
	// Changes returns a channel that receives a value (coalesced: it holds
	// at most one) after a change worth showing in one of namespaces (a
	// node joined, left or changed state; an audit event), and the
	// function that stops it. Changes the Source cannot see are found by
	// the page's periodic refresh.
	Changes(namespaces []string) (<-chan struct{}, func())
	// Done is closed when the server stops: open event streams end then,
	// so that the HTTP server's shutdown does not wait for them.
	Done() <-chan struct{}
}

// Status is the answer of GET /api/v1/status and the data of each
// "status" server-sent event.
type Status struct {
	// GeneratedAt is the server's time of the snapshot; the page shows
	// lease expiries relative to it (the browser's clock may differ).
	GeneratedAt time.Time `json:"generated_at"`
	Server      Server    `json:"server"`
	// Namespaces with live nodes, by name (the default namespace always).
	Namespaces []Namespace `json:"namespaces"`
	// NamespacesTruncated: more namespaces have nodes than are shown.
	NamespacesTruncated bool       `json:"namespaces_truncated,omitempty"`
	Providers           []Provider `json:"providers"`
	// Audit is nil when the server keeps no audit log.
	Audit *Audit `json:"audit"`
	// Errors are the parts of the snapshot that could not be read (a
	// backend failure listing nodes); the rest is still shown.
	Errors []string `json:"errors,omitempty"`
}

// Server describes the serving process.
type Server struct {
	DefaultNamespace string `json:"default_namespace"`
	Version          string `json:"version,omitempty"`
	Revision         string `json:"revision,omitempty"`
	// Ready: the default providers are not unhealthy (as /readyz).
	Ready bool `json:"ready"`
	// Watching: membership changes are pushed by the directory's watch
	// now (else the page learns of them at its periodic refresh).
	Watching bool `json:"watching"`
	// NodeLeaseTTL and AddressableLeaseTTL, in seconds.
	NodeLeaseTTL        float64 `json:"node_lease_ttl_seconds"`
	AddressableLeaseTTL float64 `json:"addressable_lease_ttl_seconds"`
}

// Namespace is one namespace's live nodes.
type Namespace struct {
	Name  string `json:"name"`
	Nodes []Node `json:"nodes"`
	// NodesTotal counts the live nodes, shown or not.
	NodesTotal int `json:"nodes_total"`
	// Truncated: only the first len(Nodes) nodes (in key order) are shown.
	Truncated bool `json:"truncated,omitempty"`
}

// Node is one live cluster member.
type Node struct {
	Key         string    `json:"key"`
	URL         string    `json:"url"`
	Status      string    `json:"status"`
	Incarnation uint64    `json:"incarnation"`
	ExpiresAt   time.Time `json:"lease_expires_at"`
	Types       []string  `json:"addressable_types,omitempty"`
	// Leases is the number of unexpired addressable leases the node
	// holds; -1 when not counted (a backend error, or beyond the nodes
	// counted). With LeasesAtLeast it is a lower bound: counting stopped
	// at the limit.
	Leases        int  `json:"leases"`
	LeasesAtLeast bool `json:"leases_at_least,omitempty"`
}

// Provider is one configured persistence provider, as the health loop last
// saw it.
type Provider struct {
	Name  string   `json:"name"`
	Type  string   `json:"type"`
	Roles []string `json:"roles"`
	// Health is "healthy", "degraded", "unhealthy" or "unknown" (not
	// checked yet).
	Health       string     `json:"health"`
	Reason       string     `json:"reason,omitempty"`
	CheckedAt    *time.Time `json:"checked_at,omitempty"`
	Capabilities []string   `json:"capabilities"`
	// Composite is set for a composite provider.
	Composite *Composite `json:"composite,omitempty"`
}

// Composite is a composite provider's state: which side serves.
type Composite struct {
	Active        string          `json:"active"` // "primary" or "backup"
	Since         time.Time       `json:"since"`
	Generation    uint64          `json:"generation"`
	StandbyBehind bool            `json:"standby_behind"`
	LastSync      *time.Time      `json:"last_sync,omitempty"`
	LastFailover  *time.Time      `json:"last_failover,omitempty"`
	Sides         []CompositeSide `json:"sides"`
}

// CompositeSide is one child of a composite provider.
type CompositeSide struct {
	Role                string `json:"role"` // "primary" or "backup"
	Name                string `json:"name"`
	Health              string `json:"health"`
	Reason              string `json:"reason,omitempty"`
	ConsecutiveFailures int    `json:"consecutive_failures"`
}

// Audit is the recent audit events, newest first.
type Audit struct {
	Events []Event `json:"events"`
	// Capacity is how many recent events the server keeps for the page.
	Capacity int `json:"capacity"`
}

// Event is one audit event as the page shows it (the audit log's line
// without the caller's network address).
type Event struct {
	Time         time.Time `json:"time"`
	Kind         string    `json:"event"`
	Outcome      string    `json:"outcome"`
	Code         string    `json:"code,omitempty"`
	Reason       string    `json:"reason,omitempty"`
	Identity     string    `json:"identity,omitempty"`
	Namespace    string    `json:"namespace,omitempty"`
	Reference    string    `json:"reference,omitempty"`
	Node         string    `json:"node,omitempty"`
	PreviousNode string    `json:"previous_node,omitempty"`
	From         string    `json:"from,omitempty"`
	To           string    `json:"to,omitempty"`
	Count        int64     `json:"count,omitempty"`
}

// Lookup is the answer of GET /api/v1/lookup (200 whether found or not).
type Lookup struct {
	Reference string `json:"reference"`
	// Found: the reference has a lease whose holder is live.
	Found     bool      `json:"found"`
	Node      string    `json:"node,omitempty"` // the holder's key
	NodeURL   string    `json:"node_url,omitempty"`
	Epoch     uint64    `json:"epoch,omitempty"`
	ExpiresAt time.Time `json:"lease_expires_at,omitzero"`
	// Reason says why nothing was found.
	Reason string `json:"reason,omitempty"`
}
