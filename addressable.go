package orbit

import (
	"strconv"
	"strings"
	"time"
)

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
			return AddressableKey{}, InvalidArgument("key", "%q: %v", s, err)
		}
		return Int32Key(int32(n)), nil
	case strings.HasPrefix(s, "i64:"):
		n, err := strconv.ParseInt(s[4:], 10, 64)
		if err != nil {
			return AddressableKey{}, InvalidArgument("key", "%q: %v", s, err)
		}
		return Int64Key(n), nil
	}
	return AddressableKey{}, InvalidArgument("key", "%q must be none, s:TEXT, i32:N or i64:N", s)
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
	return EscapePart(r.Namespace) + "/" + EscapePart(r.Type) + "/" + EscapePart(r.Key.String())
}

// Validate checks every field and names the first bad one.
func (r AddressableReference) Validate() error {
	if err := ValidateIdentifier("reference.namespace", r.Namespace, MaxNamespaceLen); err != nil {
		return err
	}
	if err := ValidateIdentifier("reference.type", r.Type, MaxTypeLen); err != nil {
		return err
	}
	switch r.Key.kind {
	case KeyNone, KeyInt64:
	case KeyInt32:
		if r.Key.n != int64(int32(r.Key.n)) {
			return InvalidArgument("reference.key", "int32 key %d is out of range", r.Key.n)
		}
	case KeyString:
		if err := ValidateIdentifier("reference.key", r.Key.s, MaxKeyLen); err != nil {
			return err
		}
	default:
		return InvalidArgument("reference.key", "unknown key kind %d", r.Key.kind)
	}
	return nil
}

// AddressableLease binds an addressable to one node until ExpiresAt.
//
// Epoch is the fencing epoch: it only grows for a given reference, across
// re-placements, releases and cleanups, so that a node that lost its lease
// can be told apart from its successor by anything it writes to. Only the
// holder presenting (Node, Epoch) may renew or release the lease.
//
// NodeIncarnation is the incarnation of Node the lease was granted to (see
// NodeLease.Incarnation): the holder is alive only while Node is live in that
// same incarnation. 0 for leases granted without one.
//
// NodeURL is the holder node's URL as the API server answered it (the
// client fills it); the directories never store or set it, and Equal
// ignores it.
type AddressableLease struct {
	Reference       AddressableReference
	Node            NodeID
	CreatedAt       time.Time
	RenewAt         time.Time
	ExpiresAt       time.Time
	Epoch           uint64
	NodeIncarnation uint64
	NodeURL         string
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
		return InvalidArgument("epoch", "must be > 0")
	}
	for _, f := range []struct {
		name string
		t    time.Time
	}{{"created_at", l.CreatedAt}, {"renew_at", l.RenewAt}, {"expires_at", l.ExpiresAt}} {
		if f.t.IsZero() {
			return InvalidArgument(f.name, "must be set")
		}
		if y := f.t.Year(); y < 1970 || y > 2200 {
			return InvalidArgument(f.name, "%s is outside the years 1970-2200", f.t)
		}
	}
	if l.ExpiresAt.Before(l.CreatedAt) {
		return InvalidArgument("expires_at", "%s is before created_at %s", l.ExpiresAt, l.CreatedAt)
	}
	return nil
}

// Live reports whether the lease is unexpired at now.
func (l AddressableLease) Live(now time.Time) bool { return now.Before(l.ExpiresAt) }

// Equal reports whether two leases are identical (times compared with Equal).
func (l AddressableLease) Equal(o AddressableLease) bool {
	return l.Reference == o.Reference && l.Node == o.Node && l.Epoch == o.Epoch && l.NodeIncarnation == o.NodeIncarnation &&
		l.CreatedAt.Equal(o.CreatedAt) && l.RenewAt.Equal(o.RenewAt) && l.ExpiresAt.Equal(o.ExpiresAt)
}
