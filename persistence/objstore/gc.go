package objstore

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/orbit-go/orbit/persistence/driver"
)

// collector deletes the objects a chain no longer needs, in the
// background: a few workers, a bounded queue, each key queued at most once.
// A key whose collection is dropped (queue full, error) is collected the
// next time an operation or a listing sees it.
type collector struct {
	s       *Store
	queue   chan string // chain prefixes
	mu      sync.Mutex
	pending map[string]bool
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	deleted atomic.Uint64
}

const (
	gcWorkers = 2
	gcQueue   = 4096
)

func newCollector(s *Store) *collector {
	ctx, cancel := context.WithCancel(context.Background())
	g := &collector{s: s, queue: make(chan string, gcQueue), pending: make(map[string]bool), ctx: ctx, cancel: cancel}
	for range gcWorkers {
		g.wg.Add(1)
		go g.run()
	}
	return g
}

// consider queues c's key when its listing shows something to collect.
func (g *collector) consider(c *chain, cp string) {
	if len(c.links) < 2 && (len(c.links) == 0 || !c.links[0].tomb) {
		return // the common case: one live object
	}
	if p := g.s.plan(c, time.Now()); p.empty() {
		return
	}
	g.enqueue(cp)
}

// enqueue queues the chain with prefix cp for collection.
func (g *collector) enqueue(cp string) {
	g.mu.Lock()
	if g.pending[cp] || g.ctx.Err() != nil {
		g.mu.Unlock()
		return
	}
	g.pending[cp] = true
	g.mu.Unlock()
	select {
	case g.queue <- cp:
	default:
		g.done(cp)
	}
}

func (g *collector) done(cp string) {
	g.mu.Lock()
	delete(g.pending, cp)
	g.mu.Unlock()
}

func (g *collector) run() {
	defer g.wg.Done()
	for {
		select {
		case <-g.ctx.Done():
			return
		case cp := <-g.queue:
			g.done(cp)
			g.collect(cp)
		}
	}
}

// collect re-lists the chain and carries out its plan.
func (g *collector) collect(cp string) { _, _ = g.collectNow(g.ctx, cp) }

// collectNow re-lists the chain and carries out its plan, every request
// within a quarter of the tombstone retention of the listing (the bound
// the package documentation relies on). It returns the objects removed.
func (g *collector) collectNow(ctx context.Context, cp string) (int, error) {
	start := time.Now()
	ctx, cancel := context.WithDeadline(ctx, start.Add(g.s.o.TombstoneRetention/4))
	defer cancel()
	c, err := g.s.readChain(ctx, "", cp)
	if err != nil {
		return 0, err
	}
	p := g.s.plan(c, start)
	if p.retomb != "" {
		_, err := g.s.b.Create(ctx, p.retomb, encodeTomb())
		if errors.Is(err, driver.ErrConflict) {
			err = nil
		}
		return 0, err
	}
	for i, name := range p.remove {
		if err := ctx.Err(); err != nil {
			return i, err
		}
		if err := g.s.b.Remove(ctx, name); err != nil {
			return i, err
		}
		g.deleted.Add(1)
	}
	return len(p.remove), nil
}

func (g *collector) stop(ctx context.Context) {
	g.cancel()
	done := make(chan struct{})
	go func() { g.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// gcPlan is what one collection does: remove names in order, or write a
// fresh tombstone.
type gcPlan struct {
	remove []string
	retomb string
}

func (p gcPlan) empty() bool { return len(p.remove) == 0 && p.retomb == "" }

// plan decides what c's key no longer needs (localNow stands in for the
// server's clock when the listing did not carry it):
//   - a live key keeps its head and, when the head replaced an object, that
//     object (the head's validity rests on it); everything else goes;
//   - a deleted key keeps its tombstone and the object the tombstone
//     replaced, so that the tombstone keeps counting: a creation that lands
//     on a collected name meanwhile stays void. While the tombstone is
//     younger than half the retention, everything else goes; when older, a
//     fresh tombstone is written on top first (the next collection removes
//     the rest). A tombstone older than the retention goes with the object
//     it rests on (that one first), and the key's storage is empty; if that
//     object is a creation, a fresh tombstone is written on top first
//     instead, so that a creation's name is only ever removed under a
//     tombstone that still counts, and the final removal only removes
//     names that no later write can take;
//   - a chain where nothing counts holds only replacements whose
//     predecessor is gone (the highest creation always counts): they go,
//     but a tombstone among them stays until it is older than the
//     retention.
func (s *Store) plan(c *chain, localNow time.Time) gcPlan {
	var p gcPlan
	if len(c.links) == 0 {
		return p
	}
	h, live := c.live()
	if live {
		keep := c.predOf(h)
		for i := range c.links {
			if i != h && i != keep {
				p.remove = append(p.remove, c.links[i].Name)
			}
		}
		return p
	}
	now := c.serverTime
	if now.IsZero() {
		now = localNow
	}
	retention := s.o.TombstoneRetention
	if h < 0 {
		t := -1
		for i := len(c.links) - 1; i >= 0; i-- {
			if c.links[i].tomb {
				t = i
				break
			}
		}
		for i := range c.links {
			if i != t {
				p.remove = append(p.remove, c.links[i].Name)
			}
		}
		if t >= 0 && len(c.links) == 1 && now.Sub(c.links[t].Modified) >= retention {
			p.remove = append(p.remove, c.links[t].Name)
		}
		return p
	}
	// h is a counting tombstone; pred is the object it replaced.
	pred := c.predOf(h)
	age := now.Sub(c.links[h].Modified)
	others := len(c.links) - 2
	retomb := func() {
		cp := c.links[h].Name[:len(c.links[h].Name)-suffixLen+len(sep)]
		p.retomb = linkName(cp, c.links[h].seq+1, fingerprint(c.links[h].ETag))
	}
	switch {
	case others > 0 && age < retention/2:
		for i := range c.links {
			if i != h && i != pred {
				p.remove = append(p.remove, c.links[i].Name)
			}
		}
	case others > 0:
		retomb()
	case age < retention:
		// The tombstone and what it rests on: nothing to do yet.
	case c.links[pred].pred == 0:
		retomb() // rests on a creation, whose name must go under a counting tombstone
	default:
		p.remove = append(p.remove, c.links[pred].Name, c.links[h].Name)
	}
	return p
}

// predOf returns the index of the object links[i] replaced, or -1 (a
// creation, or a predecessor not listed).
func (c *chain) predOf(i int) int {
	l := &c.links[i]
	if l.pred == 0 {
		return -1
	}
	for j := i - 1; j >= 0; j-- {
		if c.links[j].seq == l.seq-1 && fingerprint(c.links[j].ETag) == l.pred {
			return j
		}
	}
	return -1
}

// Collect runs the collection of key's chain now, in the caller's
// goroutine, and returns the number of objects removed (the background
// collector does the same for the chains operations see).
func (s *Store) Collect(ctx context.Context, key string) (int, error) {
	if err := s.checkOpen(); err != nil {
		return 0, err
	}
	cp, err := s.chainPrefix(key)
	if err != nil {
		return 0, err
	}
	return s.gc.collectNow(ctx, cp)
}
