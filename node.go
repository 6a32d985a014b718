package orbit

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// NodeID identifies a cluster node within a namespace.
type NodeID struct {
	Namespace string
	Key       string
}

// String renders the text form "namespace/key", with '%' and '/' inside
// either part percent-escaped, so that ParseNodeID(id.String()) == id.
func (id NodeID) String() string { return EscapePart(id.Namespace) + "/" + EscapePart(id.Key) }

// ParseNodeID parses the text form produced by NodeID.String.
func ParseNodeID(s string) (NodeID, error) {
	ns, key, ok := strings.Cut(s, "/")
	if !ok {
		return NodeID{}, InvalidArgument("node_id", "%q has no '/' between namespace and key", s)
	}
	var id NodeID
	var err error
	if id.Namespace, err = UnescapePart(ns); err != nil {
		return NodeID{}, InvalidArgument("node_id", "namespace of %q: %v", s, err)
	}
	if id.Key, err = UnescapePart(key); err != nil {
		return NodeID{}, InvalidArgument("node_id", "key of %q: %v", s, err)
	}
	return id, id.Validate()
}

// Validate checks both parts.
func (id NodeID) Validate() error {
	if err := ValidateIdentifier("node_id.namespace", id.Namespace, MaxNamespaceLen); err != nil {
		return err
	}
	return ValidateIdentifier("node_id.key", id.Key, MaxKeyLen)
}

// IsZero reports whether id is the zero NodeID.
func (id NodeID) IsZero() bool { return id.Namespace == "" && id.Key == "" }

// NodeStatus is the life-cycle state of a node.
type NodeStatus uint8

// Node states. A node is placeable-on only while Active and its lease is live.
const (
	NodeStarting NodeStatus = iota + 1
	NodeActive
	NodeDraining
	NodeStopped
)

var nodeStatusNames = map[NodeStatus]string{
	NodeStarting: "starting", NodeActive: "active", NodeDraining: "draining", NodeStopped: "stopped",
}

func (s NodeStatus) String() string {
	if n, ok := nodeStatusNames[s]; ok {
		return n
	}
	return "unknown(" + strconv.Itoa(int(s)) + ")"
}

// ParseNodeStatus parses "starting", "active", "draining" or "stopped".
func ParseNodeStatus(s string) (NodeStatus, error) {
	for k, v := range nodeStatusNames {
		if strings.EqualFold(v, s) {
			return k, nil
		}
	}
	return 0, InvalidArgument("status", "%q is not one of starting, active, draining, stopped", s)
}

// NodeCapabilities says what a node can host.
type NodeCapabilities struct {
	// AddressableTypes the node hosts; a placement only chooses nodes whose
	// list contains the addressable's type.
	AddressableTypes []string
	// MaxAddressables is the most leases the node accepts (0 = no limit).
	MaxAddressables int
	// Tags are free-form labels (zone, version, ...).
	Tags map[string]string
}

// Hosts reports whether the node hosts addressables of type t.
func (c NodeCapabilities) Hosts(t string) bool {
	return slices.Contains(c.AddressableTypes, t)
}

// Clone returns a deep copy.
func (c NodeCapabilities) Clone() NodeCapabilities {
	out := NodeCapabilities{MaxAddressables: c.MaxAddressables}
	if c.AddressableTypes != nil {
		out.AddressableTypes = append([]string(nil), c.AddressableTypes...)
	}
	if c.Tags != nil {
		out.Tags = maps.Clone(c.Tags)
	}
	return out
}

// NodeLease is a node's membership lease. The node renews it before RenewAt;
// after ExpiresAt the node is out of the cluster. ChallengeToken is a secret
// shared by the node and the directory: only its holder may renew or update.
// The directory keeps only its hash (see HashChallengeToken); compare a
// presented token with TokenMatches.
//
// Incarnation tells apart the successive lives of one NodeID: every join
// that creates the record, or replaces one whose lease lapsed, draws a new
// incarnation (never the previous one's), and renewals keep it. Leases of
// addressables are bound to the incarnation that was live when they were
// granted (AddressableLease.NodeIncarnation), so a node that re-joins under
// the same key never inherits the leases of its previous life. 0 is the
// incarnation of records written before incarnations existed.
type NodeLease struct {
	ExpiresAt      time.Time
	RenewAt        time.Time
	ChallengeToken string
	Incarnation    uint64
}

// NodeInfo is one entry of the cluster node directory.
type NodeInfo struct {
	ID           NodeID
	URL          string
	Capabilities NodeCapabilities
	Status       NodeStatus
	Lease        NodeLease
	// Owner is the identity that joined the node (the server's
	// authenticated caller, "kind:name"), "" when authentication is off.
	// Only that identity (or an administrator) may act as the node.
	Owner string
}

// Validate checks every field and names the first bad one.
func (n NodeInfo) Validate() error {
	if err := n.ID.Validate(); err != nil {
		return err
	}
	if len(n.URL) > MaxURLLen {
		return InvalidArgument("url", "is %d bytes, the limit is %d", len(n.URL), MaxURLLen)
	}
	if !utf8.ValidString(n.URL) {
		return InvalidArgument("url", "is not valid UTF-8")
	}
	for i, t := range n.Capabilities.AddressableTypes {
		if err := ValidateIdentifier(fmt.Sprintf("capabilities.addressable_types[%d]", i), t, MaxTypeLen); err != nil {
			return err
		}
	}
	if n.Capabilities.MaxAddressables < 0 {
		return InvalidArgument("capabilities.max_addressables", "is %d, must be >= 0", n.Capabilities.MaxAddressables)
	}
	if len(n.Capabilities.Tags) > MaxTags {
		return InvalidArgument("capabilities.tags", "has %d tags, the limit is %d", len(n.Capabilities.Tags), MaxTags)
	}
	for k, v := range n.Capabilities.Tags {
		if err := ValidateIdentifier("capabilities.tags key", k, MaxKeyLen); err != nil {
			return err
		}
		if len(v) > MaxKeyLen || !utf8.ValidString(v) {
			return InvalidArgument("capabilities.tags["+k+"]", "must be valid UTF-8 of at most %d bytes", MaxKeyLen)
		}
	}
	if _, ok := nodeStatusNames[n.Status]; !ok {
		return InvalidArgument("status", "%d is not a known node status", n.Status)
	}
	if n.Lease.ExpiresAt.IsZero() {
		return InvalidArgument("lease.expires_at", "must be set")
	}
	if len(n.Lease.ChallengeToken) > MaxKeyLen {
		return InvalidArgument("lease.challenge_token", "is longer than %d bytes", MaxKeyLen)
	}
	if len(n.Owner) > MaxKeyLen || !utf8.ValidString(n.Owner) {
		return InvalidArgument("owner", "must be valid UTF-8 of at most %d bytes", MaxKeyLen)
	}
	return nil
}

// Live reports whether the node's lease is unexpired at now.
func (n NodeInfo) Live(now time.Time) bool { return now.Before(n.Lease.ExpiresAt) }

// Clone returns a deep copy (capabilities are copied).
func (n NodeInfo) Clone() NodeInfo {
	n.Capabilities = n.Capabilities.Clone()
	return n
}
