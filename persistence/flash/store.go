// Package flash is Orbit's local storage backend for fast SSDs: every path
// is a Pebble database (an LSM engine made for SSDs), with conditional
// writes and real multi-key transactions under the provider's striped
// locks, a label index, value compression, and optional multipathing: every
// write goes to all configured paths and succeeds on a quorum of them; a
// failing path is dropped from the in-sync set, reopened when it works
// again and re-synchronised from the others. See docs/flash.md.
//
// Importing the package registers the provider type "Flash".
package flash

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/orbit-go/orbit/persistence/driver"
)

// Options configure a Store.
type Options struct {
	// Paths are the directories of the store, each holding a full copy
	// (created if missing). One path is a plain store; more are multipath.
	Paths []string
	// WriteQuorum is how many in-sync paths must apply a write for it to
	// succeed (0 = a majority of Paths). Writes are refused while fewer
	// paths are in sync.
	WriteQuorum int
	// Sync fsyncs each path's write-ahead log before a write is
	// acknowledged (pebble.Sync). Without it a write is acknowledged once
	// it is in Pebble's log buffer, and a crash may lose the latest writes.
	Sync bool
	// IODepth bounds the engine calls (reads and commits, over all paths)
	// in flight at once (default 32).
	IODepth int
	// BlockSize is the target size of an sstable data block, uncompressed
	// (default 4096).
	BlockSize int
	// CacheSize is the size of the block cache, in bytes, shared by all
	// paths (0 = a minimal cache).
	CacheSize int64
	// Compression: "None", "Lz4" (default) or "Zstd": values of 64 bytes
	// or more, and sstable blocks.
	Compression string
	// RetryInterval is how often a failed path is retried (default 1 s).
	RetryInterval time.Duration
	// StallTimeout fails a path whose write has not answered within it
	// (default 10 s).
	StallTimeout time.Duration
	// FS, if set, returns the file system of each path (fault injection in
	// tests); default the operating system's.
	FS func(path string) vfs.FS
	// ReadOnly opens the paths without writing anything (inspection):
	// writes fail with driver.ErrUnsupported.
	ReadOnly bool
	// Logger receives path failures and recoveries (default: discard).
	Logger *slog.Logger
}

const (
	stripeCount = 1024
	// MaxTxnOps is the most operations one transaction accepts.
	MaxTxnOps = 1024
	// DefaultListLimit is the page size when ListOptions.Limit is 0.
	DefaultListLimit = 1000
	// reserveStep is how far the version high-water mark is raised at a time.
	reserveStep = 1 << 20
	// applyChunk is the most operations of one ApplyMany committed together.
	applyChunk = 256
)

// view is the membership at one moment: the in-sync paths (written to,
// counted toward the quorum, read from), and the paths being
// re-synchronised (written to, not read, not counted). After an unclean
// shutdown the in-sync paths other than the source are verifying: they
// hold every acknowledged write but may differ on writes that were in
// flight at the crash, so they are not read from until a background
// comparison with the source has repaired them. Immutable; replaced under
// memMu.
type view struct {
	epoch     uint64
	members   []*instance // in path order
	verifying []*instance // a subset of members
	syncing   []*instance
}

// primary returns the first in-sync instance that is not poisoned,
// preferring those that are not verifying.
func (v *view) primary() *instance {
	var fallback *instance
	for _, in := range v.members {
		if in.failed() != nil {
			continue
		}
		if !slices.Contains(v.verifying, in) {
			return in
		}
		if fallback == nil {
			fallback = in
		}
	}
	return fallback
}

func (v *view) live() int {
	n := 0
	for _, in := range v.members {
		if in.failed() == nil {
			n++
		}
	}
	return n
}

// Store is the Flash driver. It implements driver.Store,
// driver.Transactional, driver.Indexer, driver.Batcher,
// driver.HealthChecker and driver.CacheStatser.
type Store struct {
	opts   Options
	log    *slog.Logger
	paths  []*path
	quorum int
	wo     *pebble.WriteOptions
	cache  *pebble.Cache
	comp   *compressor
	io     ioSem
	seed   maphash.Seed

	stripes [stripeCount]sync.RWMutex

	// memMu: every operation holds it for reading while it uses the
	// instances of the view; membership changes and Close hold it for
	// writing. Lock order: memMu, then stripes in index order.
	memMu  sync.RWMutex
	view   atomic.Pointer[view]
	closed atomic.Bool

	next      atomic.Uint64 // last version handed out
	hwm       atomic.Uint64 // versions up to hwm may be handed out
	reserveMu sync.Mutex

	kickC chan struct{}
	stopC chan struct{}
	wg    sync.WaitGroup
}

var (
	_ driver.Store         = (*Store)(nil)
	_ driver.Transactional = (*Store)(nil)
	_ driver.Indexer       = (*Store)(nil)
	_ driver.Batcher       = (*Store)(nil)
	_ driver.HealthChecker = (*Store)(nil)
	_ driver.CacheStatser  = (*Store)(nil)
)

func (o *Options) normalize() error {
	if len(o.Paths) == 0 {
		return fmt.Errorf("flash: no path configured: %w", driver.ErrInvalidArgument)
	}
	seen := map[string]bool{}
	clean := make([]string, len(o.Paths))
	for i, p := range o.Paths {
		if p == "" || seen[filepath.Clean(p)] {
			return fmt.Errorf("flash: paths must be non-empty and distinct, got %q: %w", o.Paths, driver.ErrInvalidArgument)
		}
		clean[i] = filepath.Clean(p)
		seen[clean[i]] = true
	}
	o.Paths = clean
	if o.WriteQuorum == 0 {
		o.WriteQuorum = len(o.Paths)/2 + 1
	}
	if o.WriteQuorum < 1 || o.WriteQuorum > len(o.Paths) {
		return fmt.Errorf("flash: write_quorum %d is not between 1 and %d paths: %w", o.WriteQuorum, len(o.Paths), driver.ErrInvalidArgument)
	}
	if o.IODepth <= 0 {
		o.IODepth = 32
	}
	if o.BlockSize <= 0 {
		o.BlockSize = 4096
	}
	if o.RetryInterval <= 0 {
		o.RetryInterval = time.Second
	}
	if o.StallTimeout <= 0 {
		o.StallTimeout = 10 * time.Second
	}
	return nil
}

// Open opens (or creates) the store. With several paths it needs enough of
// them to be sure that no acknowledged write is missing (see
// docs/flash.md); paths that do not open are retried in the background.
func Open(ctx context.Context, opts Options) (*Store, error) {
	if err := opts.normalize(); err != nil {
		return nil, err
	}
	comp, err := newCompressor(opts.Compression)
	if err != nil {
		return nil, err
	}
	s := &Store{opts: opts, log: opts.Logger, quorum: opts.WriteQuorum, comp: comp,
		io: make(ioSem, opts.IODepth), seed: maphash.MakeSeed(),
		kickC: make(chan struct{}, 1), stopC: make(chan struct{})}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.wo = pebble.NoSync
	if opts.Sync {
		s.wo = pebble.Sync
	}
	s.cache = pebble.NewCache(opts.CacheSize)
	for i, dir := range opts.Paths {
		fs := vfs.Default
		if opts.FS != nil {
			fs = opts.FS(dir)
		}
		s.paths = append(s.paths, &path{idx: i, dir: dir, fs: fs, s: s})
	}
	if err := s.recover(); err != nil {
		s.cache.Unref()
		comp.close()
		return nil, err
	}
	if !opts.ReadOnly {
		s.wg.Add(1)
		go s.maintain()
	}
	return s, nil
}

func (s *Store) kick() {
	select {
	case s.kickC <- struct{}{}:
	default:
	}
}

func (s *Store) stripeOf(key string) int { return int(maphash.String(s.seed, key) % stripeCount) }

func (s *Store) errClosed() error { return fmt.Errorf("flash store: %w", driver.ErrClosed) }

// rlock takes memMu for an operation; false once the store is closed.
func (s *Store) rlock() bool {
	s.memMu.RLock()
	if s.closed.Load() {
		s.memMu.RUnlock()
		return false
	}
	return true
}

// readRecord reads key's record from the view's primary; on a read error
// it moves on to the next in-sync path.
func (s *Store) readRecord(v *view, key []byte) (raw []byte, ok bool, err error) {
	for range v.members {
		in := v.primary()
		if in == nil {
			break
		}
		raw, ok, err = s.get(in, key)
		if err == nil {
			return raw, ok, nil
		}
	}
	return nil, false, s.unavailable(v)
}

func (s *Store) unavailable(v *view) error {
	return fmt.Errorf("flash store: %d of %d paths in sync, write_quorum %d: %w", v.live(), len(s.paths), s.quorum, driver.ErrUnavailable)
}

// current is the state of one key, read under its stripe lock.
type current struct {
	exists  bool
	version uint64
	label   string
}

func (s *Store) readCurrent(v *view, key string) (current, error) {
	raw, ok, err := s.readRecord(v, dataKey(key))
	if err != nil || !ok {
		return current{}, err
	}
	r, err := decodeHeader(raw)
	if err != nil {
		return current{}, fmt.Errorf("flash store: key %q: %w", key, err)
	}
	return current{exists: true, version: r.version, label: r.label}, nil
}

func check(key string, cur current, cond driver.Condition) error {
	switch cond.Kind {
	case driver.IfAbsent:
		if cur.exists {
			return fmt.Errorf("key %q already exists: %w", key, driver.ErrConflict)
		}
	case driver.IfVersion:
		if !cur.exists {
			return fmt.Errorf("key %q does not exist (expected version %s): %w", key, cond.Version, driver.ErrConflict)
		}
		if cond.Version.Num() != cur.version {
			return fmt.Errorf("key %q is at version %d, expected %s: %w", key, cur.version, cond.Version, driver.ErrConflict)
		}
	}
	return nil
}

func (s *Store) Get(ctx context.Context, key string) (driver.Entry, error) {
	if !s.rlock() {
		return driver.Entry{}, s.errClosed()
	}
	defer s.memMu.RUnlock()
	st := &s.stripes[s.stripeOf(key)]
	st.RLock()
	raw, ok, err := s.readRecord(s.view.Load(), dataKey(key))
	st.RUnlock()
	if err != nil {
		return driver.Entry{}, err
	}
	if !ok {
		return driver.Entry{}, driver.ErrNotFound
	}
	return s.entry(key, raw)
}

func (s *Store) entry(key string, raw []byte) (driver.Entry, error) {
	r, err := decodeHeader(raw)
	if err != nil {
		return driver.Entry{}, fmt.Errorf("flash store: key %q: %w", key, err)
	}
	val := r.data
	if r.codec != codecRaw {
		if val, err = s.comp.value(r); err != nil {
			return driver.Entry{}, fmt.Errorf("flash store: key %q: %w", key, err)
		}
	}
	// raw is already a private copy: the value may alias it.
	return driver.Entry{Key: key, Value: val, Version: driver.NumVersion(r.version)}, nil
}

func (s *Store) Put(ctx context.Context, key string, value []byte, cond driver.Condition) (driver.Version, error) {
	return s.putOne(ctx, driver.Op{Kind: driver.OpPut, Key: key, Value: value, Cond: cond})
}

// PutWithOptions is Put that also files key under opts.Label
// (driver.Indexer). ExpireAt is ignored: the store has no native expiry.
func (s *Store) PutWithOptions(ctx context.Context, key string, value []byte, cond driver.Condition, opts driver.PutOptions) (driver.Version, error) {
	return s.putOne(ctx, driver.Op{Kind: driver.OpPut, Key: key, Value: value, Cond: cond, Label: opts.Label})
}

func (s *Store) putOne(ctx context.Context, op driver.Op) (driver.Version, error) {
	res, err := s.mutate(ctx, []driver.Op{op}, true)
	if err != nil {
		return driver.Version{}, err
	}
	return res[0].Version, res[0].Err
}

func (s *Store) Delete(ctx context.Context, key string, cond driver.Condition) error {
	res, err := s.mutate(ctx, []driver.Op{{Kind: driver.OpDelete, Key: key, Cond: cond}}, true)
	if err != nil {
		return err
	}
	return res[0].Err
}

func (s *Store) MaxTxnOps() int { return MaxTxnOps }

// Txn applies ops atomically: under the stripe locks of every key it
// checks every condition on the primary path, then commits one engine
// batch to every path.
func (s *Store) Txn(ctx context.Context, ops []driver.Op) ([]driver.Version, error) {
	if len(ops) > MaxTxnOps {
		return nil, fmt.Errorf("flash store: transaction of %d operations exceeds %d: %w", len(ops), MaxTxnOps, driver.ErrInvalidArgument)
	}
	res, err := s.mutate(ctx, ops, true)
	if err != nil {
		return nil, err
	}
	vs := make([]driver.Version, len(res))
	for i, r := range res {
		vs[i] = r.Version
	}
	return vs, nil
}

// GetMany reads keys one by one from the primary path (driver.Batcher).
func (s *Store) GetMany(ctx context.Context, keys []string) ([]driver.Entry, error) {
	out := make([]driver.Entry, len(keys))
	for i, k := range keys {
		e, err := s.Get(ctx, k)
		switch {
		case errors.Is(err, driver.ErrNotFound):
			out[i] = driver.Entry{Key: k}
		case err != nil:
			return nil, err
		default:
			out[i] = e
		}
	}
	return out, nil
}

// ApplyMany applies independent operations (driver.Batcher), up to 256 of
// them in one engine batch per path: one log sync for all of them.
func (s *Store) ApplyMany(ctx context.Context, ops []driver.Op) ([]driver.OpResult, error) {
	out := make([]driver.OpResult, 0, len(ops))
	for len(ops) > 0 {
		n := min(len(ops), applyChunk)
		res, err := s.mutate(ctx, ops[:n], false)
		if err != nil {
			return nil, err
		}
		out = append(out, res...)
		ops = ops[n:]
	}
	return out, nil
}

// mutate is every write. With all, the operations form a transaction (one
// failed condition fails it whole with ErrConflict); otherwise each
// operation succeeds or fails on its own (OpResult.Err).
func (s *Store) mutate(ctx context.Context, ops []driver.Op, all bool) ([]driver.OpResult, error) {
	if s.opts.ReadOnly {
		return nil, fmt.Errorf("flash store opened read-only: %w", driver.ErrUnsupported)
	}
	seen := make(map[string]struct{}, len(ops))
	stripes := make([]int, 0, len(ops))
	payloads := make([]payload, len(ops))
	for i, op := range ops {
		if _, dup := seen[op.Key]; dup {
			return nil, fmt.Errorf("flash store: key %q appears twice in one call: %w", op.Key, driver.ErrInvalidArgument)
		}
		seen[op.Key] = struct{}{}
		switch op.Kind {
		case driver.OpPut:
			payloads[i] = s.comp.encode(op.Value) // outside the locks
		case driver.OpDelete:
		case driver.OpCheck:
			if !all {
				return nil, fmt.Errorf("flash store: OpCheck outside a transaction: %w", driver.ErrInvalidArgument)
			}
		default:
			return nil, fmt.Errorf("flash store: unknown op kind %d for key %q: %w", op.Kind, op.Key, driver.ErrInvalidArgument)
		}
		stripes = append(stripes, s.stripeOf(op.Key))
	}
	slices.Sort(stripes)
	stripes = slices.Compact(stripes)
	for attempt := 0; ; attempt++ {
		res, retry, err := s.mutateOnce(ops, payloads, stripes, all)
		if !retry {
			return res, err
		}
		if attempt == 10 {
			return nil, fmt.Errorf("flash store: versions are handed out faster than they are reserved: %w", driver.ErrUnavailable)
		}
		if err := s.reserve(len(ops)); err != nil {
			return nil, err
		}
	}
}

// mutateOnce runs one attempt; retry asks for a new version reservation.
func (s *Store) mutateOnce(ops []driver.Op, payloads []payload, stripes []int, all bool) (res []driver.OpResult, retry bool, err error) {
	if !s.rlock() {
		return nil, false, s.errClosed()
	}
	v := s.view.Load()
	if v.live() < s.quorum {
		s.memMu.RUnlock()
		return nil, false, s.unavailable(v)
	}
	for _, i := range stripes {
		s.stripes[i].Lock()
	}
	unlock := func() {
		for _, i := range stripes {
			s.stripes[i].Unlock()
		}
		s.memMu.RUnlock()
	}
	res = make([]driver.OpResult, len(ops))
	curs := make([]current, len(ops))
	puts := 0
	for i, op := range ops {
		cur, err := s.readCurrent(v, op.Key)
		if err != nil {
			unlock()
			return nil, false, err
		}
		curs[i] = cur
		if err := check(op.Key, cur, op.Cond); err != nil {
			if all {
				unlock()
				return nil, false, err
			}
			res[i].Err = err
			continue
		}
		if op.Kind == driver.OpPut {
			puts++
		}
		if op.Kind == driver.OpCheck {
			res[i].Version = driver.NumVersion(cur.version)
		}
	}
	first, ok := s.alloc(uint64(puts))
	if !ok {
		unlock()
		return nil, true, nil
	}
	kv := make([]kvop, 0, len(ops)+2)
	for i, op := range ops {
		if res[i].Err != nil {
			continue
		}
		cur := curs[i]
		switch op.Kind {
		case driver.OpPut:
			ver := first
			first++
			res[i].Version = driver.NumVersion(ver)
			kv = append(kv, kvop{key: dataKey(op.Key), value: encodeRecord(ver, op.Label, payloads[i])})
			if cur.exists && cur.label != "" && cur.label != op.Label {
				kv = append(kv, kvop{key: indexKey(cur.label, op.Key)})
			}
			if op.Label != "" && (!cur.exists || cur.label != op.Label) {
				kv = append(kv, kvop{key: indexKey(op.Label, op.Key), value: []byte{}})
			}
		case driver.OpDelete:
			if cur.exists {
				kv = append(kv, kvop{key: dataKey(op.Key)})
				if cur.label != "" {
					kv = append(kv, kvop{key: indexKey(cur.label, op.Key)})
				}
			}
		}
	}
	if len(kv) == 0 {
		unlock()
		return res, false, nil
	}
	if err := s.write(v, kv, unlock); err != nil {
		return nil, false, err
	}
	return res, false, nil
}

// write commits kv to every in-sync and syncing path, then calls unlock
// (which releases memMu and the stripe locks). Paths that failed are
// removed from the in-sync set, durably, before write returns: an
// acknowledged write is on every path that a restart may read from. It
// succeeds if at least quorum in-sync paths applied it; otherwise the
// outcome is unknown (some paths may have applied it) and the error Is
// ErrUnavailable.
func (s *Store) write(v *view, kv []kvop, unlock func()) error {
	targets := make([]*instance, 0, len(v.members)+len(v.syncing))
	dropped := false
	for _, in := range v.members {
		if in.failed() != nil {
			dropped = true
		} else {
			targets = append(targets, in)
		}
	}
	nMembers := len(targets)
	for _, in := range v.syncing {
		if in.failed() == nil {
			targets = append(targets, in)
		}
	}
	errs := s.applyAll(targets, kv)
	unlock()
	ok := 0
	for i, err := range errs {
		if err != nil {
			dropped = true
		} else if i < nMembers {
			ok++
		}
	}
	if dropped {
		if err := s.removeFailed(); err != nil {
			return err
		}
	}
	if ok < s.quorum {
		return fmt.Errorf("flash store: write applied on %d in-sync paths, write_quorum %d (its outcome is unknown): %w", ok, s.quorum, driver.ErrUnavailable)
	}
	return nil
}

// alloc hands out n consecutive versions below the high-water mark.
func (s *Store) alloc(n uint64) (uint64, bool) {
	for {
		cur := s.next.Load()
		if cur+n > s.hwm.Load() {
			return 0, false
		}
		if s.next.CompareAndSwap(cur, cur+n) {
			return cur + 1, true
		}
	}
}

// reserve raises the version high-water mark on a quorum of paths before
// versions above it are handed out.
func (s *Store) reserve(need int) error {
	s.reserveMu.Lock()
	defer s.reserveMu.Unlock()
	if s.next.Load()+uint64(need) <= s.hwm.Load() {
		return nil
	}
	h := max(s.hwm.Load(), s.next.Load()) + reserveStep + uint64(need)
	if !s.rlock() {
		return s.errClosed()
	}
	v := s.view.Load()
	if v.live() < s.quorum {
		s.memMu.RUnlock()
		return s.unavailable(v)
	}
	if err := s.write(v, []kvop{{key: metaHWM, value: encodeHWM(h)}}, s.memMu.RUnlock); err != nil {
		return err
	}
	s.hwm.Store(h)
	return nil
}

func (s *Store) List(ctx context.Context, prefix string, opts driver.ListOptions) (driver.ListPage, error) {
	lower := dataKey(prefix)
	if opts.StartAfter != "" && opts.StartAfter >= prefix {
		lower = append(dataKey(opts.StartAfter), 0)
	}
	return s.scan(lower, prefixEnd(dataKey(prefix)), opts.Limit, func(k []byte) string { return string(k[1:]) }, "", false)
}

// ListIndex lists the entries labelled label (driver.Indexer).
func (s *Store) ListIndex(ctx context.Context, label string, opts driver.ListOptions) (driver.ListPage, error) {
	pfx := indexLabelPrefix(label)
	lower := pfx
	if opts.StartAfter != "" {
		lower = append(append(append([]byte(nil), pfx...), opts.StartAfter...), 0)
	}
	return s.scan(lower, prefixEnd(pfx), opts.Limit, func(k []byte) string { return string(k[len(pfx):]) }, label, true)
}

// scan lists one page from the primary path: data keys directly, or index
// keys whose records are then read (skipping any relabelled or deleted
// since the index entry was read).
func (s *Store) scan(lower, upper []byte, limit int, keyOf func([]byte) string, label string, index bool) (page driver.ListPage, err error) {
	if limit <= 0 {
		limit = DefaultListLimit
	}
	if !s.rlock() {
		return page, s.errClosed()
	}
	defer s.memMu.RUnlock()
	v := s.view.Load()
	for range v.members {
		in := v.primary()
		if in == nil {
			break
		}
		page, err = s.scanInstance(in, lower, upper, limit, keyOf, label, index)
		if err == nil {
			return page, nil
		}
		if errors.Is(err, driver.ErrCorrupt) {
			return page, err
		}
		in.fail(err)
	}
	return driver.ListPage{}, s.unavailable(v)
}

func (s *Store) scanInstance(in *instance, lower, upper []byte, limit int, keyOf func([]byte) string, label string, index bool) (page driver.ListPage, err error) {
	s.io.acquire()
	defer s.io.release()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("pebble: %v", r)
		}
	}()
	it, err := in.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return page, err
	}
	defer it.Close()
	page.Entries = make([]driver.Entry, 0, min(limit, 256))
	for ok := it.First(); ok; ok = it.Next() {
		if len(page.Entries) == limit {
			page.More = true
			break
		}
		key := keyOf(it.Key())
		var raw []byte
		if index {
			v, closer, err := in.db.Get(dataKey(key))
			if errors.Is(err, pebble.ErrNotFound) {
				continue
			}
			if err != nil {
				return page, err
			}
			raw = append([]byte(nil), v...)
			_ = closer.Close()
			if r, err := decodeHeader(raw); err != nil || r.label != label {
				continue
			}
		} else {
			v, err := it.ValueAndErr()
			if err != nil {
				return page, err
			}
			raw = append([]byte(nil), v...)
		}
		e, err := s.entry(key, raw)
		if err != nil {
			return page, err
		}
		page.Entries = append(page.Entries, e)
	}
	if err := it.Error(); err != nil {
		return page, err
	}
	if err := in.failed(); err != nil {
		return page, err
	}
	return page, nil
}

// CacheStats reports the block cache's hits and misses (driver.CacheStatser).
func (s *Store) CacheStats() (hits, misses uint64) {
	m := s.cache.Metrics()
	return uint64(m.Hits), uint64(m.Misses)
}

// Close stops the background work, records a clean shutdown on every
// in-sync path and closes every path.
func (s *Store) Close(ctx context.Context) error {
	if s.closed.Swap(true) {
		return s.errClosed()
	}
	close(s.stopC)
	s.wg.Wait()
	s.memMu.Lock() // waits for the operations in flight
	defer s.memMu.Unlock()
	v := s.view.Load()
	var errs []error
	if !s.opts.ReadOnly {
		var live []*instance
		for _, in := range v.members {
			if in.failed() == nil {
				live = append(live, in)
			}
		}
		// A path still being verified after an unclean shutdown is
		// recorded as not clean: the next open verifies it again.
		m := membership{epoch: v.epoch + 1, clean: true, members: ids(live)}
		var clean, unverified []*instance
		for _, in := range live {
			if slices.Contains(v.verifying, in) {
				unverified = append(unverified, in)
			} else {
				clean = append(clean, in)
			}
		}
		werrs := s.writeMembership(clean, m)
		m.clean = false
		werrs = append(werrs, s.writeMembership(unverified, m)...)
		for _, err := range werrs {
			if err != nil {
				errs = append(errs, err)
			}
		}
	}
	for _, p := range s.paths {
		if in := p.cur.Swap(nil); in != nil {
			if err := closeInstance(in, s.opts.StallTimeout); err != nil && in.failed() == nil {
				errs = append(errs, err)
			}
		}
	}
	s.cache.Unref()
	s.comp.close()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("flash store: close: %w", err)
	}
	return nil
}

func ids(ins []*instance) []string {
	out := make([]string, len(ins))
	for i, in := range ins {
		out[i] = in.id
	}
	return out
}
