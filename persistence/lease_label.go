package persistence

import "sync/atomic"

// labelSlots is the size of a labelCache.
const labelSlots = 64

// labelCache remembers the native index labels (NodeID.String) of the
// nodes whose leases this provider wrote last, so that a renewal does not
// escape and concatenate its holder's name again on every write. It is a
// direct-mapped table of labelSlots entries: a collision only costs the
// label being built again, and it never holds more than labelSlots labels.
type labelCache struct {
	slots [labelSlots]atomic.Pointer[labelMemo]
	// hits and misses count the lookups of of (CacheStatsOf exports
	// them), on their own cache line: the slots are read-mostly.
	_            [64]byte
	hits, misses atomic.Uint64
}

type labelMemo struct {
	id    NodeID
	label string
}

// of returns the label of a lease record: its holder, or none once
// released.
func (c *labelCache) of(rec leaseRecord) string {
	if rec.Released {
		return ""
	}
	id := rec.Node
	h := uint32(2166136261) // FNV-1a of the node key
	for i := 0; i < len(id.Key); i++ {
		h = (h ^ uint32(id.Key[i])) * 16777619
	}
	slot := &c.slots[h%labelSlots]
	if m := slot.Load(); m != nil && m.id == id {
		c.hits.Add(1)
		return m.label
	}
	c.misses.Add(1)
	label := id.String()
	slot.Store(&labelMemo{id: id, label: label})
	return label
}

// stats returns the hits and misses of of so far.
func (c *labelCache) stats() (hits, misses uint64) { return c.hits.Load(), c.misses.Load() }
