package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/orbit-go/orbit/client"
	"github.com/orbit-go/orbit/persistence"
)

// bench is one run: the connection, the fake nodes and the pre-placed keys.
type bench struct {
	cfg   benchConfig
	out   io.Writer
	c     *client.Client
	runID string

	nodes   map[persistence.NodeID]*client.Node
	nodeMu  sync.Mutex
	lost    []string // fake nodes whose lease was lost, with the reason
	keys    []persistence.AddressableReference
	initial []persistence.AddressableLease // the leases of keys, as placed
}

func newRunID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b) // crypto/rand.Read does not fail on supported platforms
	return hex.EncodeToString(b)
}

// connect dials the server and joins n fake nodes hosting the type.
func (b *bench) connect(ctx context.Context, n int) error {
	c, err := client.Dial(ctx, b.cfg.addr, client.WithNamespace(b.cfg.namespace))
	if err != nil {
		return fmt.Errorf("connect to %s: %w", b.cfg.addr, err)
	}
	b.c = c
	b.nodes = make(map[persistence.NodeID]*client.Node, n)
	for i := range n {
		key := fmt.Sprintf("orbit-bench-%s-%d", b.runID, i)
		node, err := c.Join(ctx, client.NodeOptions{
			Key: key, URL: fmt.Sprintf("bench://orbit-bench/%s/%d", b.runID, i),
			Capabilities: persistence.NodeCapabilities{AddressableTypes: []string{b.cfg.typ}},
			OnLeaseLost:  func(err error) { b.nodeLost(key, err) },
		})
		if err != nil {
			return fmt.Errorf("join fake node %d of %d: %w", i+1, n, err)
		}
		b.nodes[node.ID()] = node
	}
	return nil
}

// nodeLost records a fake node's lost lease; it runs on the node's renewal
// goroutine, so it only records (the report prints it).
func (b *bench) nodeLost(key string, err error) {
	b.nodeMu.Lock()
	defer b.nodeMu.Unlock()
	b.lost = append(b.lost, fmt.Sprintf("%s: %v", key, err))
}

// lostNodes returns the recorded lost leases.
func (b *bench) lostNodes() []string {
	b.nodeMu.Lock()
	defer b.nodeMu.Unlock()
	return append([]string(nil), b.lost...)
}

// close leaves the fake nodes (releasing their leases) and disconnects.
func (b *bench) close() {
	if b.c == nil {
		return
	}
	if err := b.c.Close(); err != nil {
		fmt.Fprintf(b.out, "warning: closing: %v\n", err)
	}
}

func (b *bench) ref(key string) persistence.AddressableReference {
	return persistence.AddressableReference{Namespace: b.cfg.namespace, Type: b.cfg.typ, Key: persistence.StringKey(key)}
}

// preplace places the keyspace with the workers in parallel.
func (b *bench) preplace(ctx context.Context, n int) error {
	b.keys = make([]persistence.AddressableReference, n)
	b.initial = make([]persistence.AddressableLease, n)
	for i := range b.keys {
		b.keys[i] = b.ref(fmt.Sprintf("bench-%s-k%d", b.runID, i))
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	for w := range b.cfg.concurrency {
		wg.Go(func() {
			for i := w; i < n && ctx.Err() == nil; i += b.cfg.concurrency {
				l, _, err := b.c.LocateOrPlace(ctx, b.keys[i])
				if err != nil {
					cancel(fmt.Errorf("place key %d of %d: %w", i+1, n, err))
					return
				}
				b.initial[i] = l
			}
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	return nil
}

// Kinds of operation.
const (
	opPlace = iota
	opLocate
	opRenew
	numOps
)

var opNames = [numOps]string{"place", "locate", "renew"}

// owned is a lease a worker renews as its holder.
type owned struct {
	ref   persistence.AddressableReference
	node  *client.Node
	epoch uint64
}

// worker runs operations and records their latencies in its own histograms.
type worker struct {
	b     *bench
	id    int
	seq   int
	rng   uint64
	owned []owned
	next  int
	hists [numOps]*histogram
	errs  map[string]uint64
}

// rand returns a pseudo-random number (xorshift; one per worker, no locks).
func (w *worker) rand(n int) int {
	w.rng ^= w.rng << 13
	w.rng ^= w.rng >> 7
	w.rng ^= w.rng << 17
	return int(w.rng % uint64(n))
}

// adopt gives the worker its share of the pre-placed leases to renew:
// those whose index is its id modulo the concurrency and whose holder is
// one of the fake nodes.
func (w *worker) adopt() (foreign int) {
	for i := w.id; i < len(w.b.initial); i += w.b.cfg.concurrency {
		l := w.b.initial[i]
		if n, ok := w.b.nodes[l.Node]; ok {
			w.owned = append(w.owned, owned{ref: l.Reference, node: n, epoch: l.Epoch})
		} else {
			foreign++
		}
	}
	return foreign
}

// pick chooses the operation for the configured mode.
func (w *worker) pick() int {
	switch w.b.cfg.mode {
	case modePlace:
		return opPlace
	case modeLocate:
		return opLocate
	case modeRenew:
		return opRenew
	}
	switch r := w.rand(100); {
	case r < 20:
		return opPlace
	case r < 90 || len(w.owned) == 0:
		return opLocate
	default:
		return opRenew
	}
}

// doBatch runs one place or locate call of --batch references and returns
// how many of them succeeded (the first failure is returned).
func (w *worker) doBatch(ctx context.Context, op int) (int, error) {
	refs := make([]persistence.AddressableReference, w.b.cfg.batch)
	for i := range refs {
		if op == opPlace {
			w.seq++
			refs[i] = w.b.ref(fmt.Sprintf("bench-%s-w%d-%d", w.b.runID, w.id, w.seq))
		} else {
			refs[i] = w.b.keys[w.rand(len(w.b.keys))]
		}
	}
	res, err := w.b.c.LocateOrPlaceBatch(ctx, refs)
	if err != nil {
		return 0, err
	}
	ok := 0
	var first error
	for _, r := range res {
		if r.Err != nil {
			if first == nil {
				first = r.Err
			}
			continue
		}
		ok++
	}
	return ok, first
}

// do runs one operation.
func (w *worker) do(ctx context.Context, op int) error {
	switch op {
	case opPlace:
		w.seq++
		_, _, err := w.b.c.LocateOrPlace(ctx, w.b.ref(fmt.Sprintf("bench-%s-w%d-%d", w.b.runID, w.id, w.seq)))
		return err
	case opLocate:
		_, _, err := w.b.c.LocateOrPlace(ctx, w.b.keys[w.rand(len(w.b.keys))])
		return err
	default:
		w.next = (w.next + 1) % len(w.owned)
		o := &w.owned[w.next]
		_, err := o.node.RenewAddressable(ctx, o.ref, o.epoch)
		if errors.Is(err, persistence.ErrFenced) || errors.Is(err, persistence.ErrNotFound) {
			w.refresh(ctx, w.next)
		}
		return err
	}
}

// refresh re-locates an owned lease that moved (not timed): it keeps it if
// a fake node holds it again, else drops it.
func (w *worker) refresh(ctx context.Context, i int) {
	l, _, err := w.b.c.LocateOrPlace(ctx, w.owned[i].ref)
	if err != nil {
		return
	}
	if n, ok := w.b.nodes[l.Node]; ok {
		w.owned[i] = owned{ref: l.Reference, node: n, epoch: l.Epoch}
		return
	}
	if len(w.owned) > 1 {
		w.owned = append(w.owned[:i], w.owned[i+1:]...)
		w.next = 0
	}
}

// loop runs operations until end; those started at or after start and
// finished by end are recorded. Operations that fail because the run was
// interrupted are not counted.
func (w *worker) loop(ctx context.Context, start, end time.Time) {
	for ctx.Err() == nil {
		t0 := time.Now()
		if !t0.Before(end) {
			return
		}
		op := w.pick()
		if op == opRenew && len(w.owned) == 0 {
			return
		}
		n := 1
		var err error
		if w.b.cfg.batch > 1 && op != opRenew {
			n, err = w.doBatch(ctx, op)
		} else {
			err = w.do(ctx, op)
		}
		t1 := time.Now()
		if t0.Before(start) || t1.After(end) || ctx.Err() != nil {
			continue
		}
		if err != nil {
			w.errs[errorCode(err)]++
			if n == 0 {
				continue
			}
		}
		if w.hists[op] == nil {
			w.hists[op] = newHistogram()
		}
		w.hists[op].recordN(t1.Sub(t0), n)
	}
}

// errorCode names an error for the per-code counts.
func errorCode(err error) string {
	var ce *client.Error
	switch {
	case errors.As(err, &ce):
		return ce.Code.String()
	case errors.Is(err, context.DeadlineExceeded):
		return "DeadlineExceeded"
	case errors.Is(err, context.Canceled):
		return "Canceled"
	default:
		return "Client"
	}
}

// runHold joins the fake nodes, keeps them alive for cfg.duration (or until
// ctx ends) and leaves: the placements of an external load tool then find
// live nodes. It fails if a node lost its lease meanwhile.
func runHold(ctx context.Context, cfg benchConfig, out io.Writer) error {
	b := &bench{cfg: cfg, out: out, runID: newRunID()}
	defer b.close()
	setupCtx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	if err := b.connect(setupCtx, cfg.nodes); err != nil {
		return err
	}
	fmt.Fprintf(out, "holding %d nodes hosting %s in namespace %s for %s\n", cfg.nodes, cfg.typ, cfg.namespace, cfg.duration)
	t := time.NewTimer(cfg.duration)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
	if lost := b.lostNodes(); len(lost) > 0 {
		return fmt.Errorf("%d fake nodes lost their lease: %s", len(lost), strings.Join(lost, "; "))
	}
	return nil
}

// runLoad runs a load mode and returns its result.
func runLoad(ctx context.Context, cfg benchConfig, out io.Writer) (result, error) {
	b := &bench{cfg: cfg, out: out, runID: newRunID()}
	defer b.close()
	setupCtx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	if err := b.connect(setupCtx, cfg.nodes); err != nil {
		return result{}, err
	}
	if cfg.mode != modePlace {
		fmt.Fprintf(out, "placing %d addressables of type %s...\n", cfg.keys, cfg.typ)
		if err := b.preplace(setupCtx, cfg.keys); err != nil {
			return result{}, err
		}
	}
	workers := make([]*worker, cfg.concurrency)
	foreign := 0
	for i := range workers {
		workers[i] = &worker{b: b, id: i, rng: uint64(i)*0x9e3779b97f4a7c15 + 1, errs: map[string]uint64{}}
		if cfg.mode == modeRenew || cfg.mode == modeMixed {
			foreign += workers[i].adopt()
		}
	}
	if foreign > 0 {
		fmt.Fprintf(out, "note: %d of %d keys were placed on nodes other than ours; they are not renewed\n", foreign, cfg.keys)
	}
	fmt.Fprintf(out, "running %s for %s (warmup %s) with %d workers against %s, %d nodes...\n",
		cfg.mode, cfg.duration, cfg.warmup, cfg.concurrency, cfg.addr, cfg.nodes)
	start := time.Now().Add(cfg.warmup)
	end := start.Add(cfg.duration)
	opCtx, cancelOps := context.WithDeadline(ctx, end.Add(opGrace))
	defer cancelOps()
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Go(func() { w.loop(opCtx, start, end) })
	}
	wg.Wait()
	finished := time.Now()
	if finished.After(end) {
		finished = end
	}
	elapsed := finished.Sub(start)
	if elapsed <= 0 {
		return result{}, fmt.Errorf("interrupted during warmup: %w", ctx.Err())
	}
	r := result{mode: cfg.mode, concurrency: cfg.concurrency, nodes: cfg.nodes, elapsed: elapsed,
		all: newHistogram(), errs: map[string]uint64{}}
	for k := range numOps {
		r.byOp[k] = newHistogram()
	}
	for _, w := range workers {
		for k, h := range w.hists {
			r.byOp[k].merge(h)
			r.all.merge(h)
		}
		for code, n := range w.errs {
			r.errs[code] += n
		}
	}
	r.nodesLost = b.lostNodes()
	return r, ctx.Err()
}
