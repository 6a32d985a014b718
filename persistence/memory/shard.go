package memory

import (
	"sync"
	"sync/atomic"
	"unsafe"
)

// record is one stored entry: this header, then the key's bytes, then the
// value's bytes, in one allocation (see newRecord). A lookup that finds the
// key has the value in the same cache lines. Records are immutable: a write
// stores a new record.
type record struct {
	version uint64
	label   *labelIndex // the entry's index label, interned in Store.labels
	ref     *keyRef     // the key's handle in the ordered indexes
	klen    uint32
	vlen    uint32 // with bigFlag: the bytes are in bigRecord.data
}

// recordHeader is where a record's inline bytes start.
const recordHeader = unsafe.Sizeof(record{})

// bigFlag in record.vlen marks a bigRecord.
const bigFlag = 1 << 31

// maxValueLen is the longest value (and key) a record holds.
const maxValueLen = bigFlag - 1

// Records with their bytes inline, sized to the allocator's classes
// (32-byte header plus 16 ... 480 bytes).
type (
	record16 struct {
		record
		b [16]byte
	}
	record32 struct {
		record
		b [32]byte
	}
	record48 struct {
		record
		b [48]byte
	}
	record64 struct {
		record
		b [64]byte
	}
	record80 struct {
		record
		b [80]byte
	}
	record96 struct {
		record
		b [96]byte
	}
	record128 struct {
		record
		b [128]byte
	}
	record160 struct {
		record
		b [160]byte
	}
	record224 struct {
		record
		b [224]byte
	}
	record352 struct {
		record
		b [352]byte
	}
	record480 struct {
		record
		b [480]byte
	}
	// bigRecord holds longer entries out of line.
	bigRecord struct {
		record
		data []byte
	}
)

// newRecord returns a record of key and value (both copied).
func newRecord(key string, value []byte, version uint64, label *labelIndex, ref *keyRef) *record {
	n := len(key) + len(value)
	var r *record
	var buf []byte
	switch {
	case n <= 16:
		x := new(record16)
		r, buf = &x.record, x.b[:]
	case n <= 32:
		x := new(record32)
		r, buf = &x.record, x.b[:]
	case n <= 48:
		x := new(record48)
		r, buf = &x.record, x.b[:]
	case n <= 64:
		x := new(record64)
		r, buf = &x.record, x.b[:]
	case n <= 80:
		x := new(record80)
		r, buf = &x.record, x.b[:]
	case n <= 96:
		x := new(record96)
		r, buf = &x.record, x.b[:]
	case n <= 128:
		x := new(record128)
		r, buf = &x.record, x.b[:]
	case n <= 160:
		x := new(record160)
		r, buf = &x.record, x.b[:]
	case n <= 224:
		x := new(record224)
		r, buf = &x.record, x.b[:]
	case n <= 352:
		x := new(record352)
		r, buf = &x.record, x.b[:]
	case n <= 480:
		x := new(record480)
		r, buf = &x.record, x.b[:]
	default:
		x := &bigRecord{data: make([]byte, n)}
		r, buf = &x.record, x.data
	}
	copy(buf, key)
	copy(buf[len(key):], value)
	r.version, r.label, r.ref = version, label, ref
	r.klen, r.vlen = uint32(len(key)), uint32(len(value))
	if n > 480 {
		r.vlen |= bigFlag
	}
	return r
}

// bytes returns the record's key and value bytes.
func (r *record) bytes() []byte {
	n := int(r.klen) + int(r.vlen&^bigFlag)
	if r.vlen&bigFlag != 0 {
		return (*bigRecord)(unsafe.Pointer(r)).data[:n:n]
	}
	if n == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Add(unsafe.Pointer(r), recordHeader)), n)
}

// key returns the record's key (sharing the record's bytes).
func (r *record) key() string {
	if r.klen == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(r.bytes()), int(r.klen))
}

// value returns the record's value (sharing the record's bytes: values are
// immutable, the driver contract).
func (r *record) value() []byte {
	b := r.bytes()
	v := b[r.klen:len(b):len(b)]
	if len(v) == 0 {
		return []byte{}
	}
	return v
}

func (r *record) labelName() string {
	if r == nil || r.label == nil {
		return ""
	}
	return r.label.name
}

// keyRef is a key's handle in the ordered indexes: it stays the same while
// the key exists and points to the key's current record, whose bytes hold
// the key, so the indexes keep no copy of it. bucket is the key's expiry
// bucket (see expiry.go; 0 = not filed) and prev, next its neighbours in
// that bucket's list, all written under its shard's lock (bucket is also
// read by the backup, without it).
type keyRef struct {
	cur        atomic.Pointer[record]
	bucket     atomic.Int64
	prev, next *keyRef
}

func (k *keyRef) key() string { return k.cur.Load().key() }

func lessRef(a, b *keyRef) bool { return a.key() < b.key() }

// pivot returns a handle of key for searching the indexes.
func pivot(key string) *keyRef {
	k := &keyRef{}
	k.cur.Store(newRecord(key, nil, 0, nil, k))
	return k
}

// slot is one place of a shard's hash table. A writer sets tag before it
// publishes rec, and never changes tag while rec is set, so a reader that
// loads rec first sees the matching tag.
type slot struct {
	tag atomic.Uint64          // the key's hash
	rec atomic.Pointer[record] // nil: free (ends a probe); tombstone: deleted
}

// tombstone marks a deleted slot; probes go past it.
var tombstone = new(record)

// table is an open-addressing hash table with linear probing. Writers
// change it in place under the shard's lock; a resize builds a new table
// and publishes it, and the old one is never written again.
type table struct {
	slots []slot
	mask  uint64
}

const minTableSize = 16

func newTable(n int) *table {
	size := minTableSize
	for size < n {
		size *= 2
	}
	return &table{slots: make([]slot, size), mask: uint64(size - 1)}
}

// find returns the slot of key and its record, or, if absent, the free
// slot that ended the probe.
func (t *table) find(h uint64, key string) (int, *record, bool) {
	for i := (h >> shardBits) & t.mask; ; i = (i + 1) & t.mask {
		s := &t.slots[i]
		r := s.rec.Load()
		if r == nil {
			return int(i), nil, false
		}
		if r != tombstone && s.tag.Load() == h && r.key() == key {
			return int(i), r, true
		}
	}
}

// shard holds a part of the keys in its hash table.
//
// Reads are lock-free: atomic loads of the table, never a write to a
// shared cache line (a read lock would be one, on every lookup). Writers
// serialise on mu, which they hold while they check a condition and store,
// and while they update the ordered indexes.
//
// A transaction writes several keys, possibly in several shards, and
// readers must not see part of it. It holds the locks of all its shards
// and makes each one's seq odd while it applies its writes; a lock-free
// read that saw an odd seq, or a seq that moved during the lookup, takes
// the read lock instead (which waits for the transaction to end).
type shard struct {
	mu    sync.RWMutex
	seq   atomic.Uint64
	table atomic.Pointer[table]
	live  int // records in the table; guarded by mu
	used  int // slots not free (records and tombstones); guarded by mu
	// expiry holds the first key of each expiry bucket's list; guarded
	// by mu.
	expiry map[int64]*keyRef
}

func (sh *shard) init() { sh.table.Store(newTable(minTableSize)) }

// load returns key's record without a lock, never in the middle of a
// transaction.
func (sh *shard) load(h uint64, key string) (*record, bool) {
	if s := sh.seq.Load(); s&1 == 0 {
		_, r, ok := sh.table.Load().find(h, key)
		if sh.seq.Load() == s {
			return r, ok
		}
	}
	sh.mu.RLock()
	_, r, ok := sh.table.Load().find(h, key)
	sh.mu.RUnlock()
	return r, ok
}

// get returns key's record; the caller holds mu.
func (sh *shard) get(h uint64, key string) (*record, bool) {
	_, r, ok := sh.table.Load().find(h, key)
	return r, ok
}

// set stores key's record; the caller holds mu for writing.
func (sh *shard) set(h uint64, key string, r *record) {
	t := sh.table.Load()
	i, _, found := t.find(h, key)
	if found {
		t.slots[i].rec.Store(r)
		return
	}
	if (sh.used+1)*4 > len(t.slots)*3 {
		t = sh.resize()
		i, _, _ = t.find(h, key)
	}
	t.slots[i].tag.Store(h)
	t.slots[i].rec.Store(r)
	sh.used++
	sh.live++
}

// del removes key; the caller holds mu for writing.
func (sh *shard) del(h uint64, key string) {
	t := sh.table.Load()
	if i, _, found := t.find(h, key); found {
		t.slots[i].rec.Store(tombstone)
		sh.live--
	}
}

// resize publishes a new table holding the live records at a load of at
// most a half (tombstones are dropped); set resizes at three quarters, so
// probes stay short and a slot costs 16 bytes over 0.5-0.75 of a record on
// average. The caller holds mu.
func (sh *shard) resize() *table {
	old := sh.table.Load()
	t := newTable((sh.live + 1) * 2)
	for i := range old.slots {
		s := &old.slots[i]
		r := s.rec.Load()
		if r == nil || r == tombstone {
			continue
		}
		h := s.tag.Load()
		j, _, _ := t.find(h, r.key())
		t.slots[j].tag.Store(h)
		t.slots[j].rec.Store(r)
	}
	sh.table.Store(t)
	sh.used = sh.live
	return t
}

// beginTxn and endTxn bracket the writes of a transaction; the caller
// holds mu for writing.
func (sh *shard) beginTxn() { sh.seq.Add(1) }
func (sh *shard) endTxn()   { sh.seq.Add(1) }
