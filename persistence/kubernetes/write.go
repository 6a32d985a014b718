package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/orbit-go/orbit/persistence/driver"
)

// Write states of a writeOp.
const (
	opQueued    int32 = iota // waiting in the shard's queue
	opTaken                  // in a batch being applied
	opAbandoned              // its caller gave up before it was taken: never applied
)

// writeOp is one Put or Delete queued on a shard.
type writeOp struct {
	key    string
	dk     string
	hashed bool
	del    bool
	value  []byte
	cond   driver.Condition

	state atomic.Int32
	ver   uint64 // result of a Put
	err   error
	done  chan struct{}
}

func newWriteOp(key string, value []byte, del bool, cond driver.Condition) *writeOp {
	dk, hashed := dataKey(key)
	return &writeOp{key: key, dk: dk, hashed: hashed, del: del, value: value, cond: cond, done: make(chan struct{})}
}

func (op *writeOp) finish(err error) {
	op.err = err
	close(op.done)
}

// write queues op on its shard and waits for its outcome. When no batch of
// the shard is in flight, the caller applies the queue itself; a caller
// whose own write is done hands the rest of the queue to a goroutine.
func (s *Store) write(ctx context.Context, op *writeOp) error {
	sh := s.shardFor(op.key)
	sh.mu.Lock()
	sh.queue = append(sh.queue, op)
	lead := !sh.busy
	sh.busy = true
	sh.mu.Unlock()
	if lead {
		s.wg.Add(1)
		s.drain(sh, op)
	}
	select {
	case <-op.done:
		return op.err
	case <-ctx.Done():
		if op.state.CompareAndSwap(opQueued, opAbandoned) {
			return fmt.Errorf("kubernetes %s: %s %q: not applied: %w: %w", s.where, op.verb(), op.key, ctx.Err(), driver.ErrUnavailable)
		}
		return fmt.Errorf("kubernetes %s: %s %q: outcome unknown (the write may have been applied): %w: %w",
			s.where, op.verb(), op.key, ctx.Err(), driver.ErrUnavailable)
	}
}

func (op *writeOp) verb() string {
	if op.del {
		return "delete"
	}
	return "put"
}

// drain applies the queue of sh in batches until it is empty. Once own is
// done it continues in a new goroutine, so that its caller returns.
func (s *Store) drain(sh *shard, own *writeOp) {
	defer s.wg.Done()
	for {
		sh.mu.Lock()
		if len(sh.queue) == 0 {
			sh.busy = false
			sh.mu.Unlock()
			return
		}
		n := min(len(sh.queue), maxBatch)
		batch := make([]*writeOp, 0, n)
		for _, op := range sh.queue[:n] {
			if op.state.CompareAndSwap(opQueued, opTaken) {
				batch = append(batch, op)
			}
		}
		sh.queue = append(sh.queue[:0:0], sh.queue[n:]...)
		sh.mu.Unlock()
		if len(batch) > 0 {
			s.apply(sh, batch)
		}
		if own != nil && isDone(own) {
			s.wg.Add(1)
			go s.drain(sh, nil)
			return
		}
	}
}

func isDone(op *writeOp) bool {
	select {
	case <-op.done:
		return true
	default:
		return false
	}
}

// apply applies one batch to sh with as few Updates as the API server
// allows, and finishes every op of the batch.
func (s *Store) apply(sh *shard, batch []*writeOp) {
	ctx, cancel := s.opCtx(s.ctx)
	defer cancel()
	err := s.applyBatch(ctx, sh, batch)
	if err != nil && errors.Is(err, driver.ErrCapacity) && len(batch) > 1 {
		// One write does not fit: apply them one by one, so that only
		// the writes that do not fit fail.
		for _, op := range batch {
			if !isDone(op) {
				s.apply(sh, []*writeOp{op})
			}
		}
		return
	}
	for _, op := range batch {
		if !isDone(op) {
			op.finish(err)
		}
	}
}

// applyBatch evaluates the conditions of batch against the shard and
// writes the shard once; on Conflict it reads the shard again and starts
// over. It finishes the ops whose outcome is known and returns the error
// of the others (nil when all are finished).
func (s *Store) applyBatch(ctx context.Context, sh *shard, batch []*writeOp) error {
	st := sh.cached()
	fresh := false
	for attempt := 0; ; attempt++ {
		if s.closed.Load() {
			return fmt.Errorf("kubernetes store: %w", driver.ErrClosed)
		}
		if attempt == maxAttempts {
			return fmt.Errorf("kubernetes %s: configmap %s: %d updates refused with Conflict (other servers write it constantly); giving up: %w",
				s.where, sh.name, maxAttempts, driver.ErrUnavailable)
		}
		if attempt > 2 {
			// Writers in other processes: back off a little, with jitter.
			d := time.Duration(rand.Int64N(int64(min(attempt, 20)) * int64(2*time.Millisecond)))
			select {
			case <-time.After(d):
			case <-ctx.Done():
			}
		}
		if st == nil {
			var err error
			if st, err = s.fetch(ctx, sh); err != nil {
				return s.wrap(err, "get", sh.name)
			}
			fresh = true
		}
		next, results, stale, err := s.evaluate(sh, st, batch, fresh)
		if err != nil {
			return err
		}
		if stale {
			st = nil // a condition failed on the cached copy: confirm it on a fresh read
			continue
		}
		if next == nil { // nothing to write
			finishAll(batch, results)
			return nil
		}
		var out *corev1.ConfigMap
		if st.exists() {
			out, err = s.cms.Update(ctx, next, metav1.UpdateOptions{})
		} else {
			out, err = s.cms.Create(ctx, next, metav1.CreateOptions{})
		}
		switch {
		case err == nil:
			nst, err := s.newShardState(out)
			if err != nil {
				sh.forget()
				return err
			}
			sh.observe(nst)
			finishAll(batch, results)
			return nil
		case apierrors.IsConflict(err), apierrors.IsAlreadyExists(err):
			st = nil // someone else wrote the shard: read it and check again
		case apierrors.IsNotFound(err) && st.exists() && !isNamespaceNotFound(err):
			st = nil // the shard was deleted: create it again
		default:
			sh.forget()
			verb := "update"
			if !st.exists() {
				verb = "create"
			}
			return s.wrap(err, verb, sh.name)
		}
	}
}

// opResult is the outcome of one op in an evaluated batch.
type opResult struct {
	seq uint64 // the op's new version (a put)
	err error  // a failed condition
}

// evaluate applies batch, in order, to a copy of st. It returns the object
// to write (nil when nothing changes) and each op's outcome. When a
// condition fails on a state that was not read fresh, it returns stale
// instead: the caller reads the shard again before reporting a conflict.
func (s *Store) evaluate(sh *shard, st *shardState, batch []*writeOp, fresh bool) (next *corev1.ConfigMap, results []opResult, stale bool, err error) {
	var base map[string][]byte
	if st.exists() {
		base = st.cm.BinaryData
	}
	data := base // copied on the first change
	copied := false
	seq := st.seq
	if !st.exists() || seq == 0 {
		seq = max(seq, initialSeq())
	}
	results = make([]opResult, len(batch))
	changed := false
	for i, op := range batch {
		cur, _, exists, err := lookupIn(data, op.dk)
		if err != nil {
			return nil, nil, false, fmt.Errorf("kubernetes %s: configmap %s: key %q: %w", s.where, sh.name, op.key, err)
		}
		if !condHolds(op.cond, exists, cur) {
			if !fresh {
				return nil, nil, true, nil
			}
			results[i].err = conflict(op.key, op.cond)
			continue
		}
		if op.del && !exists {
			continue // deleting an absent key: nothing to do
		}
		if !copied {
			data = make(map[string][]byte, len(base)+1)
			maps.Copy(data, base)
			copied = true
		}
		changed = true
		if op.del {
			delete(data, op.dk)
			continue
		}
		seq++
		data[op.dk] = encodeEntry(seq, op.key, op.hashed, op.value)
		results[i].seq = seq
	}
	if !changed {
		return nil, results, false, nil
	}
	if st.exists() {
		next = &corev1.ConfigMap{ObjectMeta: *st.cm.ObjectMeta.DeepCopy(), Data: st.cm.Data}
		next.ManagedFields = nil // an Update without managedFields keeps them
	} else {
		next = s.newShardConfigMap(sh)
	}
	if next.Annotations == nil {
		next.Annotations = map[string]string{}
	}
	next.Annotations[AnnotationShards] = strconv.Itoa(len(s.shards))
	next.Annotations[AnnotationSeq] = strconv.FormatUint(seq, 10)
	next.BinaryData = data
	return next, results, false, nil
}

// finishAll finishes every op of batch with its result.
func finishAll(batch []*writeOp, results []opResult) {
	for i, op := range batch {
		op.ver = results[i].seq
		op.finish(results[i].err)
	}
}

// fetch reads sh from the API server (a quorum read) and records it.
func (s *Store) fetch(ctx context.Context, sh *shard) (*shardState, error) {
	cm, err := s.cms.Get(ctx, sh.name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		cm, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	st, err := s.newShardState(cm)
	if err != nil {
		return nil, err
	}
	sh.observe(st)
	return st, nil
}
