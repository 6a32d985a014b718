package memory

import (
	"sync"
	"sync/atomic"

	"github.com/puzpuzpuz/xsync/v4"
)

// shard holds a part of the keys.
//
// Reads are lock-free: the items live in an xsync.Map, whose lookups are
// plain atomic loads, so concurrent readers on different cores never write
// to a shared cache line (a read lock would, on every lookup). Writers
// serialise on mu, which they hold while they check a condition and store,
// and while they update the ordered indexes.
//
// A transaction writes several keys, possibly in several shards, and
// readers must not see part of it. It holds the locks of all its shards
// and makes each one's seq odd while it applies its writes; a lock-free
// read that saw an odd seq, or a seq that moved during the lookup, takes
// the read lock instead (which waits for the transaction to end).
type shard struct {
	mu  sync.RWMutex
	seq atomic.Uint64
	m   *xsync.Map[string, item]
}

func newShard() shard {
	return shard{m: xsync.NewMap[string, item]()}
}

// load returns key's item without a lock, never in the middle of a
// transaction.
func (sh *shard) load(key string) (item, bool) {
	if s := sh.seq.Load(); s&1 == 0 {
		it, ok := sh.m.Load(key)
		if sh.seq.Load() == s {
			return it, ok
		}
	}
	sh.mu.RLock()
	it, ok := sh.m.Load(key)
	sh.mu.RUnlock()
	return it, ok
}

// get returns key's item; the caller holds mu.
func (sh *shard) get(key string) (item, bool) { return sh.m.Load(key) }

// set stores key's item; the caller holds mu for writing.
func (sh *shard) set(key string, it item) { sh.m.Store(key, it) }

// del removes key; the caller holds mu for writing.
func (sh *shard) del(key string) { sh.m.Delete(key) }

// beginTxn and endTxn bracket the writes of a transaction; the caller
// holds mu for writing.
func (sh *shard) beginTxn() { sh.seq.Add(1) }
func (sh *shard) endTxn()   { sh.seq.Add(1) }
