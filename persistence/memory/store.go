// Package memory is Orbit's in-process storage backend: sharded concurrent
// maps with lock-free reads (see shard), an ordered key index, real
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
	"unsafe"

	"github.com/orbit-go/orbit/persistence/driver"
	"github.com/tidwall/btree"
)

const shardCount = 64

// item is one stored value. Values are immutable once stored (the driver
// contract), so they are kept as strings sharing the caller's bytes, which
// saves a slice header per entry. label is the entry's index label,
// interned in Store.labels.
type item struct {
	value   string
	version uint64
	label   *labelIndex
}

func (it item) labelName() string {
	if it.label == nil {
		return ""
	}
	return it.label.name
}

func bytesToString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}

func stringToBytes(s string) []byte {
	if s == "" {
		return []byte{}
	}
	return unsafe.Slice(unsafe.StringData(s), len(s))
}

// labelIndex is the ordered set of keys carrying one label.
type labelIndex struct {
	name string // the interned label
	keys *btree.BTreeG[string]
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
	tree    *btree.BTreeG[string]  // every key, ordered; guarded by treeMu
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
)

func lessString(a, b string) bool { return a < b }

// New returns an empty store without disk backup and starts nothing.
func New(opts Options) *Store {
	s := &Store{opts: opts, seed: maphash.MakeSeed(), log: opts.Logger}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.tree = btree.NewBTreeGOptions(lessString, btree.Options{NoLocks: true, Degree: 64})
	s.labels = map[string]*labelIndex{}
	for i := range s.shards {
		s.shards[i] = newShard()
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

func (s *Store) shardIndex(key string) int {
	return int(maphash.String(s.seed, key) % shardCount)
}

func (s *Store) shardOf(key string) *shard { return &s.shards[s.shardIndex(key)] }

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
	it, ok := s.shardOf(key).load(key)
	if !ok {
		return driver.Entry{}, driver.ErrNotFound
	}
	return driver.Entry{Key: key, Value: stringToBytes(it.value), Version: driver.NumVersion(it.version)}, nil
}

// check evaluates cond against the current state of a key.
func check(key string, cur item, exists bool, cond driver.Condition) error {
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
	return s.put(key, value, cond, "")
}

// PutWithOptions is Put that also files key under opts.Label
// (driver.Indexer). The memory store has no native expiry: DeleteAfter is
// ignored and cleanup removes dead records.
func (s *Store) PutWithOptions(ctx context.Context, key string, value []byte, cond driver.Condition, opts driver.PutOptions) (driver.Version, error) {
	return s.put(key, value, cond, opts.Label)
}

func (s *Store) put(key string, value []byte, cond driver.Condition, label string) (driver.Version, error) {
	if err := s.checkOpen(); err != nil {
		return driver.Version{}, err
	}
	sh := s.shardOf(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	cur, exists := sh.get(key)
	if err := check(key, cur, exists, cond); err != nil {
		return driver.Version{}, err
	}
	if !exists {
		if err := s.reserve(key); err != nil {
			return driver.Version{}, err
		}
	}
	return driver.NumVersion(s.setLocked(sh, key, value, label, cur, exists)), nil
}

// setLocked stores key; the caller holds sh's lock and checked conditions.
func (s *Store) setLocked(sh *shard, key string, value []byte, label string, cur item, exists bool) uint64 {
	v := s.version.Add(1)
	li := cur.label
	if !exists || label != cur.labelName() {
		s.treeMu.Lock()
		if !exists {
			s.tree.Load(key) // appends to a full node when key is the largest, else Set
		}
		if label != cur.labelName() {
			if cur.label != nil {
				s.unlabelLocked(cur.label, key)
			}
			li = nil
			if label != "" {
				li = s.labelLocked(label, key)
			}
		}
		s.treeMu.Unlock()
	}
	sh.set(key, item{value: bytesToString(value), version: v, label: li})
	s.watch.publish(driver.Event{Kind: driver.EventPut, Entry: driver.Entry{Key: key, Value: value, Version: driver.NumVersion(v)}})
	return v
}

// labelLocked files key under label; the caller holds treeMu.
func (s *Store) labelLocked(label, key string) *labelIndex {
	li, ok := s.labels[label]
	if !ok {
		li = &labelIndex{name: label, keys: btree.NewBTreeGOptions(lessString, btree.Options{NoLocks: true, Degree: 64})}
		s.labels[label] = li
	}
	li.keys.Load(key)
	return li
}

func (s *Store) unlabelLocked(li *labelIndex, key string) {
	li.keys.Delete(key)
	if li.keys.Len() == 0 && s.labels[li.name] == li {
		delete(s.labels, li.name)
	}
}

func (s *Store) Delete(ctx context.Context, key string, cond driver.Condition) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	sh := s.shardOf(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	cur, exists := sh.get(key)
	if err := check(key, cur, exists, cond); err != nil {
		return err
	}
	if !exists {
		return nil
	}
	s.deleteLocked(sh, key, cur)
	return nil
}

// deleteLocked removes key; the caller holds sh's lock.
func (s *Store) deleteLocked(sh *shard, key string, cur item) {
	sh.del(key)
	s.release(key)
	s.treeMu.Lock()
	s.tree.Delete(key)
	if cur.label != nil {
		s.unlabelLocked(cur.label, key)
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
func collect(t *btree.BTreeG[string], start string, limit int, keep func(string) bool) ([]string, bool) {
	if limit <= 0 {
		limit = DefaultListLimit
	}
	keys := make([]string, 0, min(limit, 256))
	more := false
	t.Ascend(start, func(k string) bool {
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
		it, ok := s.shardOf(k).load(k)
		if ok && (label == nil || it.label == label) {
			page.Entries = append(page.Entries, driver.Entry{Key: k, Value: stringToBytes(it.value), Version: driver.NumVersion(it.version)})
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
