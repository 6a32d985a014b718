package persistence

import (
	"encoding/binary"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"
	"unsafe"
)

// Record encoding. A compact, versioned binary form written by hand: records
// are small and read on every placement decision, so the format avoids
// reflection and allocations (decoded strings point into the immutable value
// returned by the driver). Every record starts with its format version.
//
//	lease: v1 | flags | varint epoch - created_us | created (int64 BE unix ns)
//	       | varint renew_at - created | varint expires_at - created (ns, or
//	       ms when a flag says so) | [str node ns, unless the reference's] | str node key
//	       | [uvarint node incarnation, when a flag says so]
//	       (the reference is not repeated: it is parsed from the storage key;
//	       a lease is typically 27-45 bytes)
//	node:  v1 | status | expires_at | renew_at | str ns | str key | str url | str token
//	       | uvarint n types + str... | uvarint max_addressables | uvarint n tags + (str,str)...
//	       | [uvarint incarnation | str owner] (absent in records written before
//	       incarnations: they decode as incarnation 0, no owner)
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

// Lease record flags.
const (
	flagNodeInRefNamespace = 1 << 1 // node namespace omitted: same as the reference's
	flagRenewMillis        = 1 << 2 // renew_at delta is in milliseconds
	flagExpiresMillis      = 1 << 3 // expires_at delta is in milliseconds
	flagNodeIncarnation    = 1 << 4 // the node incarnation follows the node key
)

// millis returns d in milliseconds and true when d is a whole number of them.
func millis(d int64) (int64, bool) {
	if d%1e6 == 0 {
		return d / 1e6, true
	}
	return d, false
}

func encodeLease(r leaseRecord) []byte {
	l := &r.AddressableLease
	created := l.CreatedAt.UnixNano()
	var flags byte
	if r.Released {
		flags |= flagReleased
	}
	// Wall-clock differences (not Sub, which may use monotonic readings).
	renew, ms := millis(l.RenewAt.UnixNano() - created)
	if ms {
		flags |= flagRenewMillis
	}
	expires, ms := millis(l.ExpiresAt.UnixNano() - created)
	if ms {
		flags |= flagExpiresMillis
	}
	nodeNS := l.Node.Namespace
	if nodeNS == l.Reference.Namespace {
		flags |= flagNodeInRefNamespace
		nodeNS = ""
	}
	// Epochs usually start at the placement time in microseconds: store
	// the difference.
	epochDelta := int64(l.Epoch - uint64(l.CreatedAt.UnixMicro()))
	// Exact size: records are kept as they are by in-memory stores.
	size := 2 + varintLen(epochDelta) + 8 + varintLen(renew) + varintLen(expires) + len(l.Node.Key) +
		uvarintLen(uint64(len(l.Node.Key)))
	if nodeNS != "" {
		size += uvarintLen(uint64(len(nodeNS))) + len(nodeNS)
	}
	if l.NodeIncarnation != 0 {
		flags |= flagNodeIncarnation
		size += uvarintLen(l.NodeIncarnation)
	}
	b := make([]byte, 0, size)
	b = append(b, formatV1, flags)
	b = binary.AppendVarint(b, epochDelta)
	b = appendTime(b, l.CreatedAt)
	b = binary.AppendVarint(b, renew)
	b = binary.AppendVarint(b, expires)
	if nodeNS != "" {
		b = appendStr(b, nodeNS)
	}
	b = appendStr(b, l.Node.Key)
	if l.NodeIncarnation != 0 {
		b = binary.AppendUvarint(b, l.NodeIncarnation)
	}
	return b
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

func varintLen(v int64) int {
	u := uint64(v) << 1
	if v < 0 {
		u = ^u
	}
	return uvarintLen(u)
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

// decodeLease decodes the record stored under key; the reference comes from
// the key itself (see keys.go), the rest from the value.
func decodeLease(key string, b []byte) (leaseRecord, error) {
	ref, err := parseLeaseKey(key)
	if err != nil {
		return leaseRecord{}, err
	}
	return decodeLeaseOf(ref, b)
}

// decodeLeaseOf decodes the record of ref (whose key the caller built).
func decodeLeaseOf(ref AddressableReference, b []byte) (leaseRecord, error) {
	var r leaseRecord
	released, err := decodeLeaseInto(&r.AddressableLease, ref, b)
	r.Released = released
	return r, err
}

// decodeLeaseInto decodes the record of ref into l and reports whether the
// record says released. On error l is partly written.
func decodeLeaseInto(l *AddressableLease, ref AddressableReference, b []byte) (released bool, err error) {
	d := decoder{b: b}
	if v := d.byte1("lease format"); d.err == nil && v != formatV1 {
		return false, fmt.Errorf("lease record format %d is not supported: %w", v, ErrCorrupt)
	}
	flags := d.byte1("lease flags")
	l.Reference = ref
	epochDelta := d.varint("lease epoch")
	if d.err != nil || len(d.b) < 8 {
		d.fail("lease created_at")
		return false, d.err
	}
	created := int64(binary.BigEndian.Uint64(d.b))
	d.b = d.b[8:]
	renew := d.varint("lease renew_at")
	expires := d.varint("lease expires_at")
	if flags&flagNodeInRefNamespace != 0 {
		l.Node.Namespace = ref.Namespace
	} else {
		l.Node.Namespace = d.str("lease node namespace")
	}
	l.Node.Key = d.str("lease node key")
	l.NodeIncarnation = 0
	if flags&flagNodeIncarnation != 0 {
		l.NodeIncarnation = d.uvarint("lease node incarnation")
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("lease record (trailing bytes)")
	}
	if d.err != nil {
		return false, d.err
	}
	if created == zeroTimeNanos {
		return false, fmt.Errorf("lease record without created_at: %w", ErrCorrupt)
	}
	if flags&flagRenewMillis != 0 {
		renew *= 1e6
	}
	if flags&flagExpiresMillis != 0 {
		expires *= 1e6
	}
	l.CreatedAt = time.Unix(0, created).UTC()
	l.Epoch = uint64(l.CreatedAt.UnixMicro()) + uint64(epochDelta)
	l.RenewAt = time.Unix(0, created+renew).UTC()
	l.ExpiresAt = time.Unix(0, created+expires).UTC()
	return flags&flagReleased != 0, nil
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
	for _, k := range slices.Sorted(maps.Keys(n.Capabilities.Tags)) {
		b = appendStr(b, k)
		b = appendStr(b, n.Capabilities.Tags[k])
	}
	if n.Lease.Incarnation != 0 || n.Owner != "" {
		b = binary.AppendUvarint(b, n.Lease.Incarnation)
		b = appendStr(b, n.Owner)
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
		n.Lease.Incarnation = d.uvarint("node incarnation")
		n.Owner = d.str("node owner")
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
