package persistence

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"
	"unsafe"
)

// Record encoding. A compact, versioned binary form written by hand: records
// are small and read on every placement decision, so the format avoids
// reflection and allocations (decoded strings point into the immutable value
// returned by the driver). Every record starts with its format version.
//
//	lease: v1 | flags | uvarint epoch | created | renew_at | expires_at (int64 BE unix ns)
//	       | str namespace | str type | key kind | key | str node ns | str node key
//	node:  v1 | status | expires_at | renew_at | str ns | str key | str url | str token
//	       | uvarint n types + str... | uvarint max_addressables | uvarint n tags + (str,str)...
//	index: v1 | uvarint epoch | written_at
const (
	formatV1     = 1
	flagReleased = 1 << 0
)

// zeroTimeNanos encodes the zero time.Time, which has no UnixNano.
const zeroTimeNanos = math.MinInt64

func appendTime(b []byte, t time.Time) []byte {
	n := int64(zeroTimeNanos)
	if !t.IsZero() {
		n = t.UnixNano()
	}
	return binary.BigEndian.AppendUint64(b, uint64(n))
}

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// leaseRecord is what is stored under a lease key: the lease, and whether it
// was released (a released record keeps the epoch so that epochs only grow).
type leaseRecord struct {
	AddressableLease
	Released bool
}

func encodeLease(r leaseRecord) []byte {
	l := &r.AddressableLease
	b := make([]byte, 0, 48+len(l.Reference.Namespace)+len(l.Reference.Type)+len(l.Reference.Key.s)+len(l.Node.Namespace)+len(l.Node.Key))
	var flags byte
	if r.Released {
		flags |= flagReleased
	}
	b = append(b, formatV1, flags)
	b = binary.AppendUvarint(b, l.Epoch)
	b = appendTime(b, l.CreatedAt)
	b = appendTime(b, l.RenewAt)
	b = appendTime(b, l.ExpiresAt)
	b = appendStr(b, l.Reference.Namespace)
	b = appendStr(b, l.Reference.Type)
	b = append(b, byte(l.Reference.Key.kind))
	switch l.Reference.Key.kind {
	case KeyString:
		b = appendStr(b, l.Reference.Key.s)
	case KeyInt32, KeyInt64:
		b = binary.AppendVarint(b, l.Reference.Key.n)
	}
	b = appendStr(b, l.Node.Namespace)
	b = appendStr(b, l.Node.Key)
	return b
}

// decoder reads a record; the first error sticks.
type decoder struct {
	b    []byte
	err  error
	copy bool // copy strings instead of aliasing b
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("truncated or malformed %s: %w", what, ErrCorrupt)
	}
}

func (d *decoder) byte1(what string) byte {
	if d.err != nil || len(d.b) < 1 {
		d.fail(what)
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint(what string) int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) time(what string) time.Time {
	if d.err != nil || len(d.b) < 8 {
		d.fail(what)
		return time.Time{}
	}
	n := int64(binary.BigEndian.Uint64(d.b))
	d.b = d.b[8:]
	if n == zeroTimeNanos {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

func (d *decoder) str(what string) string {
	n := d.uvarint(what)
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.b)) {
		d.fail(what)
		return ""
	}
	if n == 0 {
		return ""
	}
	var s string
	if d.copy {
		s = string(d.b[:n])
	} else {
		// The driver contract makes returned values immutable, so the
		// string may alias them.
		s = unsafe.String(&d.b[0], int(n))
	}
	d.b = d.b[n:]
	return s
}

func decodeLease(b []byte) (leaseRecord, error) {
	d := decoder{b: b}
	var r leaseRecord
	if v := d.byte1("lease format"); d.err == nil && v != formatV1 {
		return r, fmt.Errorf("lease record format %d is not supported: %w", v, ErrCorrupt)
	}
	flags := d.byte1("lease flags")
	r.Released = flags&flagReleased != 0
	l := &r.AddressableLease
	l.Epoch = d.uvarint("lease epoch")
	l.CreatedAt = d.time("lease created_at")
	l.RenewAt = d.time("lease renew_at")
	l.ExpiresAt = d.time("lease expires_at")
	l.Reference.Namespace = d.str("lease namespace")
	l.Reference.Type = d.str("lease type")
	l.Reference.Key.kind = KeyKind(d.byte1("lease key kind"))
	switch l.Reference.Key.kind {
	case KeyNone:
	case KeyString:
		l.Reference.Key.s = d.str("lease key")
	case KeyInt32, KeyInt64:
		l.Reference.Key.n = d.varint("lease key")
	default:
		d.fail("lease key kind")
	}
	l.Node.Namespace = d.str("lease node namespace")
	l.Node.Key = d.str("lease node key")
	if d.err == nil && len(d.b) != 0 {
		d.fail("lease record (trailing bytes)")
	}
	return r, d.err
}

func encodeNode(n NodeInfo) []byte {
	b := make([]byte, 0, 64+len(n.URL)+len(n.ID.Key))
	b = append(b, formatV1, byte(n.Status))
	b = appendTime(b, n.Lease.ExpiresAt)
	b = appendTime(b, n.Lease.RenewAt)
	b = appendStr(b, n.ID.Namespace)
	b = appendStr(b, n.ID.Key)
	b = appendStr(b, n.URL)
	b = appendStr(b, n.Lease.ChallengeToken)
	b = binary.AppendUvarint(b, uint64(len(n.Capabilities.AddressableTypes)))
	for _, t := range n.Capabilities.AddressableTypes {
		b = appendStr(b, t)
	}
	b = binary.AppendUvarint(b, uint64(n.Capabilities.MaxAddressables))
	b = binary.AppendUvarint(b, uint64(len(n.Capabilities.Tags)))
	for _, k := range sortedTagKeys(n.Capabilities.Tags) {
		b = appendStr(b, k)
		b = appendStr(b, n.Capabilities.Tags[k])
	}
	return b
}

func decodeNode(b []byte) (NodeInfo, error) {
	d := decoder{b: b, copy: true}
	var n NodeInfo
	if v := d.byte1("node format"); d.err == nil && v != formatV1 {
		return n, fmt.Errorf("node record format %d is not supported: %w", v, ErrCorrupt)
	}
	n.Status = NodeStatus(d.byte1("node status"))
	n.Lease.ExpiresAt = d.time("node expires_at")
	n.Lease.RenewAt = d.time("node renew_at")
	n.ID.Namespace = d.str("node namespace")
	n.ID.Key = d.str("node key")
	n.URL = d.str("node url")
	n.Lease.ChallengeToken = d.str("node token")
	if cnt := d.uvarint("node types"); cnt > 0 && d.err == nil {
		if cnt > uint64(len(d.b)) {
			d.fail("node types")
		} else {
			n.Capabilities.AddressableTypes = make([]string, 0, cnt)
			for i := uint64(0); i < cnt && d.err == nil; i++ {
				n.Capabilities.AddressableTypes = append(n.Capabilities.AddressableTypes, d.str("node type"))
			}
		}
	}
	n.Capabilities.MaxAddressables = int(d.uvarint("node max_addressables"))
	if cnt := d.uvarint("node tags"); cnt > 0 && d.err == nil {
		if cnt > uint64(len(d.b)) {
			d.fail("node tags")
		} else {
			n.Capabilities.Tags = make(map[string]string, cnt)
			for i := uint64(0); i < cnt && d.err == nil; i++ {
				k := d.str("node tag key")
				n.Capabilities.Tags[k] = d.str("node tag value")
			}
		}
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("node record (trailing bytes)")
	}
	return n, d.err
}

// indexRecord is the value of a per-node index entry: the epoch the placement
// that wrote it was about to install, and when it was written.
type indexRecord struct {
	Epoch     uint64
	WrittenAt time.Time
}

func encodeIndex(r indexRecord) []byte {
	b := make([]byte, 0, 20)
	b = append(b, formatV1)
	b = binary.AppendUvarint(b, r.Epoch)
	return appendTime(b, r.WrittenAt)
}

func decodeIndex(b []byte) (indexRecord, error) {
	d := decoder{b: b}
	var r indexRecord
	if v := d.byte1("index format"); d.err == nil && v != formatV1 {
		return r, fmt.Errorf("index record format %d is not supported: %w", v, ErrCorrupt)
	}
	r.Epoch = d.uvarint("index epoch")
	r.WrittenAt = d.time("index written_at")
	return r, d.err
}
