package persistence

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits on identifiers. They keep every storage key within driver.MaxKeyLen
// and within the object-name limits of the cloud backends.
const (
	MaxNamespaceLen = 128
	MaxTypeLen      = 128
	MaxKeyLen       = 256
	MaxURLLen       = 1024
	MaxTags         = 64
)

// checkIdent validates one identifier: non-empty, valid UTF-8, no control
// characters, at most max bytes.
func checkIdent(field, s string, max int) error {
	if s == "" {
		return invalid(field, "must not be empty")
	}
	if len(s) > max {
		return invalid(field, "is %d bytes, the limit is %d", len(s), max)
	}
	ascii := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == 0x7f {
			return invalid(field, "contains control character %U", rune(c))
		}
		if c >= 0x80 {
			ascii = false
		}
	}
	if ascii {
		return nil
	}
	if !utf8.ValidString(s) {
		return invalid(field, "is not valid UTF-8")
	}
	for _, r := range s {
		if r >= 0x80 && r < 0xa0 { // C1 controls
			return invalid(field, "contains control character %U", r)
		}
	}
	return nil
}

// NodeID identifies a cluster node within a namespace.
type NodeID struct {
	Namespace string
	Key       string
}

// String renders the text form "namespace/key", with '%' and '/' inside
// either part percent-escaped, so that ParseNodeID(id.String()) == id.
func (id NodeID) String() string { return escape(id.Namespace) + "/" + escape(id.Key) }

// ParseNodeID parses the text form produced by NodeID.String.
func ParseNodeID(s string) (NodeID, error) {
	ns, key, ok := strings.Cut(s, "/")
	if !ok {
		return NodeID{}, invalid("node_id", "%q has no '/' between namespace and key", s)
	}
	var id NodeID
	var err error
	if id.Namespace, err = unescape(ns); err != nil {
		return NodeID{}, invalid("node_id", "namespace of %q: %v", s, err)
	}
	if id.Key, err = unescape(key); err != nil {
		return NodeID{}, invalid("node_id", "key of %q: %v", s, err)
	}
	return id, id.Validate()
}

// Validate checks both parts.
func (id NodeID) Validate() error {
	if err := checkIdent("node_id.namespace", id.Namespace, MaxNamespaceLen); err != nil {
		return err
	}
	return checkIdent("node_id.key", id.Key, MaxKeyLen)
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
	return 0, invalid("status", "%q is not one of starting, active, draining, stopped", s)
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
	for _, x := range c.AddressableTypes {
		if x == t {
			return true
		}
	}
	return false
}

func (c NodeCapabilities) clone() NodeCapabilities {
	out := NodeCapabilities{MaxAddressables: c.MaxAddressables}
	if c.AddressableTypes != nil {
		out.AddressableTypes = append([]string(nil), c.AddressableTypes...)
	}
	if c.Tags != nil {
		out.Tags = make(map[string]string, len(c.Tags))
		for k, v := range c.Tags {
			out.Tags[k] = v
		}
	}
	return out
}

// NodeLease is a node's membership lease. The node renews it before RenewAt;
// after ExpiresAt the node is out of the cluster. ChallengeToken is a secret
// shared by the node and the directory: only its holder may renew or update.
type NodeLease struct {
	ExpiresAt      time.Time
	RenewAt        time.Time
	ChallengeToken string
}

// NodeInfo is one entry of the cluster node directory.
type NodeInfo struct {
	ID           NodeID
	URL          string
	Capabilities NodeCapabilities
	Status       NodeStatus
	Lease        NodeLease
}

// Validate checks every field and names the first bad one.
func (n NodeInfo) Validate() error {
	if err := n.ID.Validate(); err != nil {
		return err
	}
	if len(n.URL) > MaxURLLen {
		return invalid("url", "is %d bytes, the limit is %d", len(n.URL), MaxURLLen)
	}
	if !utf8.ValidString(n.URL) {
		return invalid("url", "is not valid UTF-8")
	}
	for i, t := range n.Capabilities.AddressableTypes {
		if err := checkIdent(fmt.Sprintf("capabilities.addressable_types[%d]", i), t, MaxTypeLen); err != nil {
			return err
		}
	}
	if n.Capabilities.MaxAddressables < 0 {
		return invalid("capabilities.max_addressables", "is %d, must be >= 0", n.Capabilities.MaxAddressables)
	}
	if len(n.Capabilities.Tags) > MaxTags {
		return invalid("capabilities.tags", "has %d tags, the limit is %d", len(n.Capabilities.Tags), MaxTags)
	}
	for k, v := range n.Capabilities.Tags {
		if err := checkIdent("capabilities.tags key", k, MaxKeyLen); err != nil {
			return err
		}
		if len(v) > MaxKeyLen || !utf8.ValidString(v) {
			return invalid("capabilities.tags["+k+"]", "must be valid UTF-8 of at most %d bytes", MaxKeyLen)
		}
	}
	if _, ok := nodeStatusNames[n.Status]; !ok {
		return invalid("status", "%d is not a known node status", n.Status)
	}
	if n.Lease.ExpiresAt.IsZero() {
		return invalid("lease.expires_at", "must be set")
	}
	if len(n.Lease.ChallengeToken) > MaxKeyLen {
		return invalid("lease.challenge_token", "is longer than %d bytes", MaxKeyLen)
	}
	return nil
}

// Live reports whether the node's lease is unexpired at now.
func (n NodeInfo) Live(now time.Time) bool { return now.Before(n.Lease.ExpiresAt) }

// Clone returns a deep copy (capabilities are copied).
func (n NodeInfo) Clone() NodeInfo {
	n.Capabilities = n.Capabilities.clone()
	return n
}

// KeyKind is the type of an addressable's key.
type KeyKind uint8

// Key kinds. "42" as a string and 42 as an int32 are different addressables.
const (
	KeyNone KeyKind = iota
	KeyString
	KeyInt32
	KeyInt64
)

// AddressableKey is a typed key: none, a string, an int32 or an int64.
// The zero value is the "none" key.
type AddressableKey struct {
	kind KeyKind
	s    string
	n    int64
}

// NoKey, StringKey, Int32Key and Int64Key build keys.
func NoKey() AddressableKey                  { return AddressableKey{} }
func StringKey(s string) AddressableKey      { return AddressableKey{kind: KeyString, s: s} }
func Int32Key(n int32) AddressableKey        { return AddressableKey{kind: KeyInt32, n: int64(n)} }
func Int64Key(n int64) AddressableKey        { return AddressableKey{kind: KeyInt64, n: n} }
func (k AddressableKey) Kind() KeyKind       { return k.kind }
func (k AddressableKey) StringValue() string { return k.s }
func (k AddressableKey) IntValue() int64     { return k.n }

// String renders the key unambiguously: "none", "s:text", "i32:42", "i64:42".
func (k AddressableKey) String() string {
	switch k.kind {
	case KeyString:
		return "s:" + k.s
	case KeyInt32:
		return "i32:" + strconv.FormatInt(k.n, 10)
	case KeyInt64:
		return "i64:" + strconv.FormatInt(k.n, 10)
	default:
		return "none"
	}
}

// ParseAddressableKey parses the form produced by AddressableKey.String.
func ParseAddressableKey(s string) (AddressableKey, error) {
	switch {
	case s == "none":
		return NoKey(), nil
	case strings.HasPrefix(s, "s:"):
		return StringKey(s[2:]), nil
	case strings.HasPrefix(s, "i32:"):
		n, err := strconv.ParseInt(s[4:], 10, 32)
		if err != nil {
			return AddressableKey{}, invalid("key", "%q: %v", s, err)
		}
		return Int32Key(int32(n)), nil
	case strings.HasPrefix(s, "i64:"):
		n, err := strconv.ParseInt(s[4:], 10, 64)
		if err != nil {
			return AddressableKey{}, invalid("key", "%q: %v", s, err)
		}
		return Int64Key(n), nil
	}
	return AddressableKey{}, invalid("key", "%q must be none, s:TEXT, i32:N or i64:N", s)
}

// AddressableReference identifies an addressable (an actor) by namespace,
// type and typed key.
type AddressableReference struct {
	Namespace string
	Type      string
	Key       AddressableKey
}

// String renders "namespace/type/key" with '/' and '%' escaped in the parts.
func (r AddressableReference) String() string {
	return escape(r.Namespace) + "/" + escape(r.Type) + "/" + escape(r.Key.String())
}

// Validate checks every field and names the first bad one.
func (r AddressableReference) Validate() error {
	if err := checkIdent("reference.namespace", r.Namespace, MaxNamespaceLen); err != nil {
		return err
	}
	if err := checkIdent("reference.type", r.Type, MaxTypeLen); err != nil {
		return err
	}
	switch r.Key.kind {
	case KeyNone, KeyInt64:
	case KeyInt32:
		if r.Key.n != int64(int32(r.Key.n)) {
			return invalid("reference.key", "int32 key %d is out of range", r.Key.n)
		}
	case KeyString:
		if err := checkIdent("reference.key", r.Key.s, MaxKeyLen); err != nil {
			return err
		}
	default:
		return invalid("reference.key", "unknown key kind %d", r.Key.kind)
	}
	return nil
}

// AddressableLease binds an addressable to one node until ExpiresAt.
//
// Epoch is the fencing epoch: it only grows for a given reference, across
// re-placements, releases and cleanups, so that a node that lost its lease
// can be told apart from its successor by anything it writes to. Only the
// holder presenting (Node, Epoch) may renew or release the lease.
type AddressableLease struct {
	Reference AddressableReference
	Node      NodeID
	CreatedAt time.Time
	RenewAt   time.Time
	ExpiresAt time.Time
	Epoch     uint64
}

// Validate checks every field and names the first bad one.
func (l AddressableLease) Validate() error {
	if err := l.Reference.Validate(); err != nil {
		return err
	}
	if err := l.Node.Validate(); err != nil {
		return err
	}
	if l.Epoch == 0 {
		return invalid("epoch", "must be > 0")
	}
	for _, f := range []struct {
		name string
		t    time.Time
	}{{"created_at", l.CreatedAt}, {"renew_at", l.RenewAt}, {"expires_at", l.ExpiresAt}} {
		if f.t.IsZero() {
			return invalid(f.name, "must be set")
		}
		if y := f.t.Year(); y < 1970 || y > 2200 {
			return invalid(f.name, "%s is outside the years 1970-2200", f.t)
		}
	}
	if l.ExpiresAt.Before(l.CreatedAt) {
		return invalid("expires_at", "%s is before created_at %s", l.ExpiresAt, l.CreatedAt)
	}
	return nil
}

// Live reports whether the lease is unexpired at now.
func (l AddressableLease) Live(now time.Time) bool { return now.Before(l.ExpiresAt) }

// Equal reports whether two leases are identical (times compared with Equal).
func (l AddressableLease) Equal(o AddressableLease) bool {
	return l.Reference == o.Reference && l.Node == o.Node && l.Epoch == o.Epoch &&
		l.CreatedAt.Equal(o.CreatedAt) && l.RenewAt.Equal(o.RenewAt) && l.ExpiresAt.Equal(o.ExpiresAt)
}

// sortedTagKeys returns the tag keys in order (stable encoding).
func sortedTagKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
