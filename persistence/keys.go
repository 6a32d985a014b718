package persistence

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"github.com/orbit-go/orbit"
)

// Storage key layout (identical on every backend; backends may prepend their
// own configured prefix):
//
//	a/<ns>/<type>/<key>            the lease record of one addressable
//	n/<ns>/<node>                  the record of one cluster node
//	x/<nodens>/<node>/<lease key>  per-node index entry: "node may hold lease key"
//
// Each <part> is percent-escaped ('%' and '/' only), so '/' always separates
// parts. <key> is "n" (none), "s<text>", "i<int32>" or "l<int64>": the kind is
// part of the key, so the string "42" and the number 42 are different records.
const (
	leasePrefix = "a/"
	nodePrefix  = "n/"
	indexPrefix = "x/"
)

// escape, unescape and appendEscaped are package orbit's part escaping.
func escape(s string) string                  { return orbit.EscapePart(s) }
func unescape(s string) (string, error)       { return orbit.UnescapePart(s) }
func appendEscaped(b []byte, s string) []byte { return orbit.AppendEscapedPart(b, s) }

// appendTypedKey appends the escaped typed key.
func appendTypedKey(b []byte, k AddressableKey) []byte {
	switch k.Kind() {
	case KeyString:
		b = append(b, 's')
		return appendEscaped(b, k.StringValue())
	case KeyInt32:
		b = append(b, 'i')
		return strconv.AppendInt(b, k.IntValue(), 10)
	case KeyInt64:
		b = append(b, 'l')
		return strconv.AppendInt(b, k.IntValue(), 10)
	default:
		return append(b, 'n')
	}
}

// leaseKey is the storage key of ref's lease record.
func leaseKey(ref AddressableReference) string {
	// One allocation of (nearly) the exact size: escaping is rare.
	b := appendLeaseKey(make([]byte, 0, leaseKeySize(ref)), ref)
	return unsafe.String(unsafe.SliceData(b), len(b)) // b is never written again
}

func leaseKeySize(ref AddressableReference) int {
	size := len(leasePrefix) + len(ref.Namespace) + len(ref.Type) + len(ref.Key.StringValue()) + 3
	if ref.Key.Kind() == KeyInt32 || ref.Key.Kind() == KeyInt64 {
		size += 20
	}
	return size
}

// keyBufs recycles the buffers of transient lease keys (Get: drivers do
// not retain the keys passed to Get).
var keyBufs = sync.Pool{New: func() any { b := make([]byte, 0, 128); return &b }}

func appendLeaseKey(b []byte, ref AddressableReference) []byte {
	b = append(b, leasePrefix...)
	b = appendEscaped(b, ref.Namespace)
	b = append(b, '/')
	b = appendEscaped(b, ref.Type)
	b = append(b, '/')
	return appendTypedKey(b, ref.Key)
}

// leaseNamespacePrefix is the prefix of every lease record of namespace ns
// ("" = every namespace).
func leaseNamespacePrefix(ns string) string {
	if ns == "" {
		return leasePrefix
	}
	return leasePrefix + escape(ns) + "/"
}

func nodeKey(id NodeID) string {
	return nodePrefix + escape(id.Namespace) + "/" + escape(id.Key)
}

func nodeNamespacePrefix(ns string) string {
	if ns == "" {
		return nodePrefix
	}
	return nodePrefix + escape(ns) + "/"
}

// nodeIndexPrefix is the prefix of every index entry of node id.
func nodeIndexPrefix(id NodeID) string {
	return indexPrefix + escape(id.Namespace) + "/" + escape(id.Key) + "/"
}

func indexKey(id NodeID, leaseKey string) string { return nodeIndexPrefix(id) + leaseKey }

// IndexKeyPrefix is the prefix of the per-node index entries. Drivers that
// limit their number of entries (the memory provider's max_entries) do not
// count these, so that a limit counts leases and nodes.
const IndexKeyPrefix = indexPrefix

// parseLeaseKey is the inverse of leaseKey. The returned strings alias key
// unless a part was escaped.
func parseLeaseKey(key string) (AddressableReference, error) {
	bad := func(why string) (AddressableReference, error) {
		return AddressableReference{}, fmt.Errorf("lease key %q: %s: %w", key, why, ErrCorrupt)
	}
	rest, ok := strings.CutPrefix(key, leasePrefix)
	if !ok {
		return bad("no lease prefix")
	}
	ns, rest, ok1 := strings.Cut(rest, "/")
	typ, k, ok2 := strings.Cut(rest, "/")
	if !ok1 || !ok2 || k == "" {
		return bad("not namespace/type/key")
	}
	var r AddressableReference
	var err error
	if r.Namespace, err = unescape(ns); err != nil {
		return bad("namespace escape")
	}
	if r.Type, err = unescape(typ); err != nil {
		return bad("type escape")
	}
	switch k[0] {
	case 'n':
		if len(k) != 1 {
			return bad("none key with a value")
		}
	case 's':
		s, err := unescape(k[1:])
		if err != nil {
			return bad("key escape")
		}
		r.Key = StringKey(s)
	case 'i':
		n, err := strconv.ParseInt(k[1:], 10, 32)
		if err != nil {
			return bad("int32 key")
		}
		r.Key = Int32Key(int32(n))
	case 'l':
		n, err := strconv.ParseInt(k[1:], 10, 64)
		if err != nil {
			return bad("int64 key")
		}
		r.Key = Int64Key(n)
	default:
		return bad("unknown key kind")
	}
	return r, nil
}

// splitIndexKey parses "x/<ns>/<node>/<lease key>".
func splitIndexKey(k string) (NodeID, string, bool) {
	rest, ok := strings.CutPrefix(k, indexPrefix)
	if !ok {
		return NodeID{}, "", false
	}
	ns, rest, ok1 := strings.Cut(rest, "/")
	nk, lkey, ok2 := strings.Cut(rest, "/")
	if !ok1 || !ok2 {
		return NodeID{}, "", false
	}
	var id NodeID
	var err error
	if id.Namespace, err = unescape(ns); err != nil {
		return NodeID{}, "", false
	}
	if id.Key, err = unescape(nk); err != nil {
		return NodeID{}, "", false
	}
	return id, lkey, true
}

// parseNodeKey is the inverse of nodeKey.
func parseNodeKey(key string) (NodeID, error) {
	rest, ok := strings.CutPrefix(key, nodePrefix)
	ns, k, ok2 := strings.Cut(rest, "/")
	if !ok || !ok2 || strings.Contains(k, "/") {
		return NodeID{}, fmt.Errorf("node key %q: not n/<namespace>/<node>: %w", key, ErrCorrupt)
	}
	var id NodeID
	var err error
	if id.Namespace, err = unescape(ns); err != nil {
		return NodeID{}, fmt.Errorf("node key %q: %w: %w", key, err, ErrCorrupt)
	}
	if id.Key, err = unescape(k); err != nil {
		return NodeID{}, fmt.Errorf("node key %q: %w: %w", key, err, ErrCorrupt)
	}
	return id, nil
}
