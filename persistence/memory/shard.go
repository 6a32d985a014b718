package memory

import "sync"

// chunkBits sets the slab chunk size (1024 items).
const chunkBits = 10

// shard holds a part of the keys. Its map only indexes into a slab of
// items: a map slot of a string and a uint32 is half the size of one that
// holds the item itself, which matters at millions of entries, and the slab
// grows by fixed chunks rather than by doubling.
type shard struct {
	mu     sync.RWMutex
	m      map[string]uint32
	chunks [][]item
	free   []uint32
	next   uint32
}

// get returns key's item; the caller holds mu (read or write).
func (sh *shard) get(key string) (item, bool) {
	i, ok := sh.m[key]
	if !ok {
		return item{}, false
	}
	return sh.chunks[i>>chunkBits][i&(1<<chunkBits-1)], true
}

// set stores key's item; the caller holds mu for writing.
func (sh *shard) set(key string, it item) {
	i, ok := sh.m[key]
	if !ok {
		if n := len(sh.free); n > 0 {
			i = sh.free[n-1]
			sh.free = sh.free[:n-1]
		} else {
			i = sh.next
			sh.next++
			if int(i>>chunkBits) == len(sh.chunks) {
				sh.chunks = append(sh.chunks, make([]item, 1<<chunkBits))
			}
		}
		sh.m[key] = i
	}
	sh.chunks[i>>chunkBits][i&(1<<chunkBits-1)] = it
}

// del removes key; the caller holds mu for writing.
func (sh *shard) del(key string) {
	i, ok := sh.m[key]
	if !ok {
		return
	}
	delete(sh.m, key)
	sh.chunks[i>>chunkBits][i&(1<<chunkBits-1)] = item{} // drop references
	sh.free = append(sh.free, i)
}
