package flash

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/sstable"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// path is one configured directory. It holds one Pebble database at a time
// (an instance); a failed instance is closed and the directory reopened
// when it works again.
type path struct {
	idx int
	dir string
	fs  vfs.FS
	s   *Store

	cur       atomic.Pointer[instance] // nil while the directory is not open
	lastErr   atomic.Pointer[string]   // the last failure, for health
	resyncing atomic.Bool              // a resync goroutine runs for this path
	copied    atomic.Int64             // entries repaired by the running resync
	scanned   atomic.Int64             // entries compared by the running resync
}

func (p *path) setErr(err error) {
	msg := err.Error()
	p.lastErr.Store(&msg)
}

func (p *path) errText() string {
	if m := p.lastErr.Load(); m != nil {
		return *m
	}
	return "not open"
}

// instance is one open Pebble database of a path. Once poisoned (a write,
// a sync or a background job failed, or Pebble reported a fatal error) it
// is never used again: the store drops the path from the in-sync set and
// reopens the directory later.
type instance struct {
	p      *path
	db     *pebble.DB
	id     string
	poison atomic.Pointer[error]
}

// fail poisons the instance; the first failure is kept.
func (in *instance) fail(err error) {
	if in.poison.CompareAndSwap(nil, &err) {
		in.p.setErr(err)
		in.p.s.log.Error("flash: path failed", "path", in.p.dir, "error", err.Error())
		in.p.s.kick()
	}
}

func (in *instance) failed() error {
	if e := in.poison.Load(); e != nil {
		return *e
	}
	return nil
}

// pebbleLogger routes Pebble's log to slog. Pebble calls Fatalf on errors it
// cannot recover from (a failed WAL write or sync, a failed MANIFEST
// write, corruption) and expects the process to exit; here it poisons the
// instance instead, so that one failing path does not stop the others.
// Pebble's call returns afterwards (a commit then returns nil): every
// commit checks the poison after Apply, so such a write is never counted.
type pebbleLogger struct {
	in  *instance
	log *slog.Logger
}

func (l pebbleLogger) Infof(format string, args ...any) {
	l.log.Debug(fmt.Sprintf(format, args...), "path", l.in.p.dir)
}

func (l pebbleLogger) Errorf(format string, args ...any) {
	l.log.Warn(fmt.Sprintf(format, args...), "path", l.in.p.dir)
}

func (l pebbleLogger) Fatalf(format string, args ...any) {
	if !strings.HasPrefix(format, "pebble") {
		format = "pebble: " + format
	}
	l.in.fail(fmt.Errorf(format, args...))
}

// blockCompression maps the configured codec onto Pebble's block codecs:
// Pebble has no LZ4 block codec, so Lz4 uses its fastest one (MinLZ on
// amd64, Snappy on arm64).
func blockCompression(c codec) *sstable.CompressionProfile {
	switch c {
	case codecRaw:
		return sstable.NoCompression
	case codecZstd:
		return sstable.ZstdCompression
	default:
		return sstable.FastestCompression
	}
}

func (s *Store) pebbleOptions(in *instance) *pebble.Options {
	lg := pebbleLogger{in: in, log: s.log}
	o := &pebble.Options{
		FS:                 in.p.fs,
		Cache:              s.cache,
		Logger:             lg,
		FormatMajorVersion: pebble.FormatNewest,
		ReadOnly:           s.opts.ReadOnly,
		EventListener: &pebble.EventListener{
			BackgroundError: func(err error) { in.fail(fmt.Errorf("pebble background job: %w", err)) },
			DataCorruption:  func(info pebble.DataCorruptionInfo) { in.fail(fmt.Errorf("pebble: %s", info)) },
		},
	}
	prof := blockCompression(s.comp.codec)
	for i := range o.Levels {
		o.Levels[i].BlockSize = s.opts.BlockSize
		o.Levels[i].Compression = func() *sstable.CompressionProfile { return prof }
		o.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	return o
}

// open opens the path's directory and reads its metadata.
func (s *Store) openPath(p *path) (*instance, pathState, error) {
	in := &instance{p: p}
	db, err := pebble.Open(p.dir, s.pebbleOptions(in))
	if err != nil {
		if lockHeld(err) {
			return nil, pathState{}, fmt.Errorf("flash store: %s: %w (its LOCK file is locked: %v); each server process needs paths of its own", p.dir, ErrPathInUse, err)
		}
		return nil, pathState{}, fmt.Errorf("open %s: %w", p.dir, err)
	}
	in.db = db
	st, err := readPathState(db)
	if err == nil {
		err = in.failed()
	}
	if err != nil {
		closeInstance(in, s.opts.StallTimeout)
		return nil, pathState{}, fmt.Errorf("read metadata of %s: %w", p.dir, err)
	}
	in.id = st.id
	return in, st, nil
}

// closeInstance closes in's database, giving up after timeout (a database
// whose disk hangs may never close; its directory then stays locked).
func closeInstance(in *instance, timeout time.Duration) error {
	done := make(chan error, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- fmt.Errorf("close %s: %v", in.p.dir, r)
			}
		}()
		done <- in.db.Close()
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(timeout):
		return fmt.Errorf("close %s: no answer within %s", in.p.dir, timeout)
	}
}

// ioSem bounds the engine calls in flight (io_depth).
type ioSem chan struct{}

func (q ioSem) acquire() { q <- struct{}{} }
func (q ioSem) release() { <-q }

// slot is one acquisition that either its holder or, for a holder stuck on
// a hung disk, applyAll releases: whichever comes first. state: 0 not
// acquired, 1 held, 2 released.
type slot struct{ state atomic.Int32 }

func (q ioSem) acquireSlot(sl *slot) {
	q.acquire()
	sl.state.Store(1)
}

func (q ioSem) releaseOnce(sl *slot) {
	if sl.state.CompareAndSwap(1, 2) {
		q.release()
	}
}

// kvop is one engine write.
type kvop struct {
	key   []byte
	value []byte // nil: delete
}

// apply writes ops to the instance in one atomic batch.
func (s *Store) apply(in *instance, ops []kvop, wo *pebble.WriteOptions) error {
	return s.applySlot(in, ops, wo, &slot{})
}

func (s *Store) applySlot(in *instance, ops []kvop, wo *pebble.WriteOptions, sl *slot) (err error) {
	if err := in.failed(); err != nil {
		return err
	}
	s.io.acquireSlot(sl)
	defer s.io.releaseOnce(sl)
	defer func() {
		if r := recover(); r != nil { // a closed or broken database
			err = fmt.Errorf("pebble: %v", r)
		}
		if err == nil {
			err = in.failed() // Fatalf returned: the commit did not happen
		}
		if err != nil {
			in.fail(err)
		}
	}()
	b := in.db.NewBatchWithSize(batchSize(ops))
	for _, op := range ops {
		if op.value == nil {
			err = b.Delete(op.key, nil)
		} else {
			err = b.Set(op.key, op.value, nil)
		}
		if err != nil {
			_ = b.Close()
			return err
		}
	}
	err = in.db.Apply(b, wo)
	_ = b.Close()
	return err
}

func batchSize(ops []kvop) int {
	n := 12
	for _, op := range ops {
		n += len(op.key) + len(op.value) + 2*5 + 1
	}
	return n
}

// get reads one engine key; a missing key is (nil, false, nil). The value
// is copied out of Pebble's buffer.
func (s *Store) get(in *instance, key []byte) (rec []byte, ok bool, err error) {
	if err := in.failed(); err != nil {
		return nil, false, err
	}
	s.io.acquire()
	defer s.io.release()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("pebble: %v", r)
			in.fail(err)
		}
	}()
	v, closer, err := in.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		in.fail(err)
		return nil, false, err
	}
	out := append([]byte(nil), v...)
	_ = closer.Close()
	return out, true, nil
}

// applyAll writes ops to every target in parallel and returns one error per
// target. A target that does not answer within StallTimeout is poisoned
// and reported failed (its goroutine finishes on its own).
func (s *Store) applyAll(targets []*instance, ops []kvop) []error {
	errs := make([]error, len(targets))
	if len(targets) == 1 {
		errs[0] = s.apply(targets[0], ops, s.wo)
		return errs
	}
	type res struct {
		i   int
		err error
	}
	ch := make(chan res, len(targets))
	slots := make([]slot, len(targets))
	for i, in := range targets {
		go func() { ch <- res{i, s.applySlot(in, ops, s.wo, &slots[i])} }()
	}
	timer := time.NewTimer(s.opts.StallTimeout)
	defer timer.Stop()
	answered := make([]bool, len(targets))
	for range targets {
		select {
		case r := <-ch:
			errs[r.i], answered[r.i] = r.err, true
		case <-timer.C:
			for i, in := range targets {
				if !answered[i] {
					errs[i] = fmt.Errorf("%s: a write got no answer within %s", in.p.dir, s.opts.StallTimeout)
					in.fail(errs[i])
					s.io.releaseOnce(&slots[i]) // the stuck call does not hold io_depth
				}
			}
			return errs
		}
	}
	return errs
}

// forEach runs fn on every target in parallel.
func forEach(targets []*instance, fn func(*instance) error) []error {
	errs := make([]error, len(targets))
	var wg sync.WaitGroup
	for i, in := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = fn(in)
		}()
	}
	wg.Wait()
	return errs
}
