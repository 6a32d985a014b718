package composite

import (
	"context"
	"sync"
	"sync/atomic"
)

// inflightShards spreads the registry's locks so that concurrent requests
// do not contend on one.
const inflightShards = 32

// inflight registers the cancel functions of the requests running on the
// active side, so that a failover can interrupt them all at once. A
// sharded map costs each request one uncontended lock; a context shared by
// all requests (context.AfterFunc) cost a fifth of the read throughput
// under 16 goroutines, on its one mutex.
type inflight struct {
	next         atomic.Uint64
	interrupting atomic.Bool // set from the failover decision to the switch
	shards       [inflightShards]struct {
		mu sync.Mutex
		m  map[uint64]context.CancelFunc
	}
}

// add registers cancel and returns its handle. While a failover is being
// made, cancel is called at once: the request must not start on the
// failing side.
func (r *inflight) add(cancel context.CancelFunc) uint64 {
	id := r.next.Add(1)
	sh := &r.shards[id%inflightShards]
	sh.mu.Lock()
	if sh.m == nil {
		sh.m = make(map[uint64]context.CancelFunc)
	}
	sh.m[id] = cancel
	sh.mu.Unlock()
	if r.interrupting.Load() {
		cancel()
	}
	return id
}

func (r *inflight) remove(id uint64) {
	sh := &r.shards[id%inflightShards]
	sh.mu.Lock()
	delete(sh.m, id)
	sh.mu.Unlock()
}

// interrupt cancels every registered request and, until resume, every
// request that registers.
func (r *inflight) interrupt() {
	r.interrupting.Store(true)
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.Lock()
		for _, cancel := range sh.m {
			cancel()
		}
		sh.mu.Unlock()
	}
}

func (r *inflight) resume() { r.interrupting.Store(false) }
