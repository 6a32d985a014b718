// Package memory is Orbit's in-process storage backend: 64 shards of
// lock-free hash tables of one-allocation records (see shard.go), ordered
// key and label indexes, real
// multi-key transactions whose writes readers see all at once, change
// streams, an entry limit, and an optional compressed disk backup that is
// written atomically every sync interval and on close, and restored on open.
//
// Importing the package registers the provider type "Memory".
package memory

import (
	"context"
	"fmt"
	"hash/maphash"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/orbit-go/orbit/persistence/driver"
	"github.com/tidwall/btree"
)

// shardBits is log2 of the number of shards: a key's shard is the low bits
// of its hash, its place in the shard's table the next ones.
const (
	shardBits  = 6
	shardCount = 1 << shardBits
)

// labelIndex is the ordered set of keys carrying one label.
type labelIndex struct {
	name string // the interned label
	keys *btree.BTreeG[*keyRef]
}

// Options configure a Store.
type Options struct {
	// MaxEntries is the most counted entries the store holds (0 = no limit).
	// A write that would create one more fails with driver.ErrCapacity.
	MaxEntries int
	// Uncounted is a key prefix whose entries do not count toward
	// MaxEntries (the lease logic's index entries).
	Uncounted string
	// Backup, if set, enables the disk backup.
	Backup *BackupOptions
	// Logger receives backup and restore events (default: discard).
	Logger *slog.Logger
}

// Store is the memory driver. It implements driver.Store,
// driver.Transactional, driver.Watcher and driver.HealthChecker.
type Store struct {
	opts    Options
	seed    maphash.Seed
	shards  [shardCount]shard
	treeMu  sync.RWMutex
	tree    *btree.BTreeG[*keyRef] // every key, ordered; guarded by treeMu
	labels  map[string]*labelIndex // guarded by treeMu
	version atomic.Uint64
	counted atomic.Int64
	closed  atomic.Bool
	watch   watchers
	backup  *backupLoop
	log     *slog.Logger
}

var (
	_ driver.Store         = (*Store)(nil)
	_ driver.Transactional = (*Store)(nil)
	_ driver.Watcher       = (*Store)(nil)
	_ driver.HealthChecker = (*Store)(nil)
	_ driver.Indexer       = (*Store)(nil)
	_ driver.ExpiryLister  = (*Store)(nil)
)

// New returns an empty store without disk backup and starts nothing.
func New(opts Options) *Store {
	s := &Store{opts: opts, seed: maphash.MakeSeed(), log: opts.Logger}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.tree = newKeyTree()
	s.labels = map[string]*labelIndex{}
	for i := range s.shards {
		s.shards[i].init()
	}
	return s
}

// Open returns a store; with Backup set it first restores the backup file
// (a corrupt or unreadable file is an error, never silently discarded) and
// then starts the periodic backup.
func Open(ctx context.Context, opts Options) (*Store, error) {
	s := New(opts)
	if opts.Backup != nil {
		b, err := startBackup(s, *opts.Backup)
		if err != nil {
			return nil, err
		}
		s.backup = b
	}
	return s, nil
}

func newKeyTree() *btree.BTreeG[*keyRef] {
	return btree.NewBTreeGOptions(lessRef, btree.Options{NoLocks: true, Degree: 64})
}

func (s *Store) hash(key string) uint64 { return maphash.String(s.seed, key) }

func (s *Store) shardIndex(h uint64) int { return int(h % shardCount) }

// shardOf returns key's hash and shard.
func (s *Store) shardOf(key string) (uint64, *shard) {
	h := s.hash(key)
	return h, &s.shards[s.shardIndex(h)]
}

func (s *Store) counts(key string) bool {
	return s.opts.Uncounted == "" || !strings.HasPrefix(key, s.opts.Uncounted)
}

// InProcess marks the store as read without a round trip (driver.InProcess).
func (s *Store) InProcess() {}

func (s *Store) checkOpen() error {
	if s.closed.Load() {
		return fmt.Errorf("memory store: %w", driver.ErrClosed)
	}
	return nil
}

func (s *Store) Get(ctx context.Context, key string) (driver.Entry, error) {
	if err := s.checkOpen(); err != nil {
		return driver.Entry{}, err
	}
	h, sh := s.shardOf(key)
	r, ok := sh.load(h, key)
	if !ok {
		return driver.Entry{}, driver.ErrNotFound
	}
	return driver.Entry{Key: key, Value: r.value(), Version: driver.NumVersion(r.version)}, nil
}

// check evaluates cond against the current state of a key.
func check(key string, cur *record, exists bool, cond driver.Condition) error {
	switch cond.Kind {
	case driver.IfAbsent:
		if exists {
			return fmt.Errorf("key %q already exists: %w", key, driver.ErrConflict)
		}
	case driver.IfVersion:
		if !exists {
			return fmt.Errorf("key %q does not exist (expected version %s): %w", key, cond.Version, driver.ErrConflict)
		}
		if cond.Version.Num() != cur.version {
			return fmt.Errorf("key %q is at version %d, expected %s: %w", key, cur.version, cond.Version, driver.ErrConflict)
		}
	}
	return nil
}

// reserve claims capacity for one new counted key.
func (s *Store) reserve(key string) error {
	if s.opts.MaxEntries <= 0 || !s.counts(key) {
		return nil
	}
	if n := s.counted.Add(1); n > int64(s.opts.MaxEntries) {
		s.counted.Add(-1)
		return fmt.Errorf("memory store holds max_entries=%d entries: %w", s.opts.MaxEntries, driver.ErrCapacity)
	}
	return nil
}

func (s *Store) release(key string) {
	if s.opts.MaxEntries > 0 && s.counts(key) {
		s.counted.Add(-1)
	}
}

func (s *Store) Put(ctx context.Context, key string, value []byte, cond driver.Condition) (driver.Version, error) {
	return s.put(key, value, cond, "", 0)
}

// PutWithOptions is Put that also files key under opts.Label
// (driver.Indexer) and by opts.ExpireAt (driver.ExpiryLister). The memory
// store deletes nothing by itself: the lease logic's sweep lists what is
// due and deletes it.
func (s *Store) PutWithOptions(ctx context.Context, key string, value []byte, cond driver.Condition, opts driver.PutOptions) (driver.Version, error) {
	return s.put(key, value, cond, opts.Label, bucketOf(opts.ExpireAt))
}

func (s *Store) put(key string, value []byte, cond driver.Condition, label string, bucket int64) (driver.Version, error) {
	if err := s.checkOpen(); err != nil {
		return driver.Version{}, err
	}
	if err := checkSizes(key, value); err != nil {
		return driver.Version{}, err
	}
	h, sh := s.shardOf(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	cur, exists := sh.get(h, key)
	if err := check(key, cur, exists, cond); err != nil {
		return driver.Version{}, err
	}
	if !exists {
		if err := s.reserve(key); err != nil {
			return driver.Version{}, err
		}
	}
	return driver.NumVersion(s.setLocked(sh, h, key, value, label, bucket, cur)), nil
}

// checkSizes refuses a key or value too long for a record (2 GiB).
func checkSizes(key string, value []byte) error {
	if len(key) > maxValueLen || len(value) > maxValueLen {
		return fmt.Errorf("memory store: key %.40q... or its value is longer than %d bytes: %w", key, maxValueLen, driver.ErrInvalidArgument)
	}
	return nil
}

// setLocked stores key, labelled label and filed in expiry bucket (0:
// none); the caller holds sh's lock and checked conditions. cur is the
// key's current record (nil if absent).
func (s *Store) setLocked(sh *shard, h uint64, key string, value []byte, label string, bucket int64, cur *record) uint64 {
	v := s.version.Add(1)
	r := newRecord(key, value, v, nil, nil)
	if cur == nil {
		r.ref = &keyRef{}
		r.ref.cur.Store(r) // the indexes compare keys through the handle
	} else {
		r.ref, r.label = cur.ref, cur.label
	}
	if cur == nil || label != cur.labelName() {
		s.treeMu.Lock()
		if cur == nil {
			s.tree.Load(r.ref) // appends to a full node when key is the largest, else Set
		}
		if label != cur.labelName() {
			if cur != nil && cur.label != nil {
				s.unlabelLocked(cur.label, r.ref)
			}
			r.label = nil
			if label != "" {
				r.label = s.labelLocked(label, r.ref)
			}
		}
		s.treeMu.Unlock()
	}
	r.ref.cur.Store(r)
	sh.set(h, key, r)
	sh.file(r.ref, bucket)
	s.watch.publish(driver.Event{Kind: driver.EventPut, Entry: driver.Entry{Key: key, Value: value, Version: driver.NumVersion(v)}})
	return v
}

// labelLocked files ref under label; the caller holds treeMu.
func (s *Store) labelLocked(label string, ref *keyRef) *labelIndex {
	li, ok := s.labels[label]
	if !ok {
		li = &labelIndex{name: label, keys: newKeyTree()}
		s.labels[label] = li
	}
	li.keys.Load(ref)
	return li
}

func (s *Store) unlabelLocked(li *labelIndex, ref *keyRef) {
	li.keys.Delete(ref)
	if li.keys.Len() == 0 && s.labels[li.name] == li {
		delete(s.labels, li.name)
	}
}

func (s *Store) Delete(ctx context.Context, key string, cond driver.Condition) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	h, sh := s.shardOf(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	cur, exists := sh.get(h, key)
	if err := check(key, cur, exists, cond); err != nil {
		return err
	}
	if !exists {
		return nil
	}
	s.deleteLocked(sh, h, key, cur)
	return nil
}

// deleteLocked removes key; the caller holds sh's lock.
func (s *Store) deleteLocked(sh *shard, h uint64, key string, cur *record) {
	s.release(key)
	s.unlinkLocked(sh, h, key, cur)
}

// unlinkLocked removes key from the table and every index, without
// releasing its capacity; the caller holds sh's lock.
func (s *Store) unlinkLocked(sh *shard, h uint64, key string, cur *record) {
	sh.del(h, key)
	sh.file(cur.ref, 0)
	s.treeMu.Lock()
	s.tree.Delete(cur.ref)
	if cur.label != nil {
		s.unlabelLocked(cur.label, cur.ref)
	}
	s.treeMu.Unlock()
	s.watch.publish(driver.Event{Kind: driver.EventDelete, Entry: driver.Entry{Key: key, Version: driver.NumVersion(cur.version)}})
}

// DefaultListLimit is the page size when ListOptions.Limit is 0.
const DefaultListLimit = 1000

func (s *Store) List(ctx context.Context, prefix string, opts driver.ListOptions) (driver.ListPage, error) {
	if err := s.checkOpen(); err != nil {
		return driver.ListPage{}, err
	}
	start := prefix
	if opts.StartAfter != "" && opts.StartAfter >= prefix {
		start = opts.StartAfter + "\x00"
	}
	s.treeMu.RLock()
	keys, more := collect(s.tree, start, opts.Limit, func(k string) bool { return strings.HasPrefix(k, prefix) })
	s.treeMu.RUnlock()
	return s.page(keys, more, nil), nil
}

// ListIndex lists the entries labelled label (driver.Indexer).
func (s *Store) ListIndex(ctx context.Context, label string, opts driver.ListOptions) (driver.ListPage, error) {
	if err := s.checkOpen(); err != nil {
		return driver.ListPage{}, err
	}
	start := ""
	if opts.StartAfter != "" {
		start = opts.StartAfter + "\x00"
	}
	var keys []string
	var more bool
	s.treeMu.RLock()
	li, ok := s.labels[label]
	if ok {
		keys, more = collect(li.keys, start, opts.Limit, func(string) bool { return true })
	}
	s.treeMu.RUnlock()
	return s.page(keys, more, li), nil
}

// collect returns up to limit keys of t from start while keep holds.
func collect(t *btree.BTreeG[*keyRef], start string, limit int, keep func(string) bool) ([]string, bool) {
	if limit <= 0 {
		limit = DefaultListLimit
	}
	keys := make([]string, 0, min(limit, 256))
	more := false
	t.Ascend(pivot(start), func(ref *keyRef) bool {
		k := ref.key()
		if !keep(k) {
			return false
		}
		if len(keys) == limit {
			more = true
			return false
		}
		keys = append(keys, k)
		return true
	})
	return keys, more
}

// page reads the entries of keys (skipping those deleted or relabelled
// since the keys were collected).
func (s *Store) page(keys []string, more bool, label *labelIndex) driver.ListPage {
	page := driver.ListPage{Entries: make([]driver.Entry, 0, len(keys)), More: more}
	for _, k := range keys {
		h, sh := s.shardOf(k)
		r, ok := sh.load(h, k)
		if ok && (label == nil || r.label == label) {
			page.Entries = append(page.Entries, driver.Entry{Key: k, Value: r.value(), Version: driver.NumVersion(r.version)})
		}
	}
	return page
}

// Len returns the number of stored keys (counted or not).
func (s *Store) Len() int {
	s.treeMu.RLock()
	defer s.treeMu.RUnlock()
	return s.tree.Len()
}

// HealthCheck reports Degraded at 90% of MaxEntries and when the last disk
// backup failed, Unhealthy once closed.
func (s *Store) HealthCheck(ctx context.Context) driver.Health {
	if s.closed.Load() {
		return driver.Health{Status: driver.Unhealthy, Reason: "memory store is closed"}
	}
	if max := s.opts.MaxEntries; max > 0 {
		if n := s.counted.Load(); n*10 >= int64(max)*9 {
			return driver.Health{Status: driver.Degraded, Reason: fmt.Sprintf("%d of max_entries=%d entries used", n, max)}
		}
	}
	if s.backup != nil {
		if err := s.backup.lastError(); err != nil {
			return driver.Health{Status: driver.Degraded, Reason: "last disk backup failed: " + err.Error()}
		}
	}
	return driver.Health{Status: driver.Healthy}
}

// Close takes the final backup (if enabled), ends every watch and refuses
// further calls.
func (s *Store) Close(ctx context.Context) error {
	if s.closed.Swap(true) {
		return fmt.Errorf("memory store: %w", driver.ErrClosed)
	}
	var err error
	if s.backup != nil {
		err = s.backup.stop()
	}
	s.watch.closeAll()
	return err
}

// Backup writes the disk backup now (only with Backup options).
func (s *Store) Backup() error {
	if s.backup == nil {
		return fmt.Errorf("memory store has no disk_backup configured: %w", driver.ErrUnsupported)
	}
	return s.backup.run()
}
