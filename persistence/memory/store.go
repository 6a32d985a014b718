// Package memory is Orbit's in-process storage backend: sharded concurrent
// maps with an ordered key index, real multi-key transactions, change
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

const shardCount = 64

// item is one stored value. Values are immutable once stored.
type item struct {
	value   []byte
	version uint64
}

type shard struct {
	mu sync.RWMutex
	m  map[string]item
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
	tree    *btree.BTreeG[string] // every key, ordered; guarded by treeMu
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
)

// New returns an empty store without disk backup and starts nothing.
func New(opts Options) *Store {
	s := &Store{opts: opts, seed: maphash.MakeSeed(), log: opts.Logger}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.tree = btree.NewBTreeGOptions(func(a, b string) bool { return a < b }, btree.Options{NoLocks: true})
	for i := range s.shards {
		s.shards[i].m = make(map[string]item)
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
	sh := s.shardOf(key)
	sh.mu.RLock()
	it, ok := sh.m[key]
	sh.mu.RUnlock()
	if !ok {
		return driver.Entry{}, driver.ErrNotFound
	}
	return driver.Entry{Key: key, Value: it.value, Version: driver.NumVersion(it.version)}, nil
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
	if err := s.checkOpen(); err != nil {
		return driver.Version{}, err
	}
	sh := s.shardOf(key)
	sh.mu.Lock()
	cur, exists := sh.m[key]
	if err := check(key, cur, exists, cond); err != nil {
		sh.mu.Unlock()
		return driver.Version{}, err
	}
	if !exists {
		if err := s.reserve(key); err != nil {
			sh.mu.Unlock()
			return driver.Version{}, err
		}
	}
	v := s.version.Add(1)
	sh.m[key] = item{value: value, version: v}
	if !exists {
		s.treeMu.Lock()
		s.tree.Set(key)
		s.treeMu.Unlock()
	}
	s.watch.publish(driver.Event{Kind: driver.EventPut, Entry: driver.Entry{Key: key, Value: value, Version: driver.NumVersion(v)}})
	sh.mu.Unlock()
	return driver.NumVersion(v), nil
}

func (s *Store) Delete(ctx context.Context, key string, cond driver.Condition) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	sh := s.shardOf(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	cur, exists := sh.m[key]
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
	delete(sh.m, key)
	s.release(key)
	s.treeMu.Lock()
	s.tree.Delete(key)
	s.treeMu.Unlock()
	s.watch.publish(driver.Event{Kind: driver.EventDelete, Entry: driver.Entry{Key: key, Version: driver.NumVersion(cur.version)}})
}

// DefaultListLimit is the page size when ListOptions.Limit is 0.
const DefaultListLimit = 1000

func (s *Store) List(ctx context.Context, prefix string, opts driver.ListOptions) (driver.ListPage, error) {
	if err := s.checkOpen(); err != nil {
		return driver.ListPage{}, err
	}
	limit := opts.Limit
	if limit <= 0 {
		limit = DefaultListLimit
	}
	start := prefix
	if opts.StartAfter != "" && opts.StartAfter >= prefix {
		start = opts.StartAfter + "\x00"
	}
	keys := make([]string, 0, min(limit, 256))
	more := false
	s.treeMu.RLock()
	s.tree.Ascend(start, func(k string) bool {
		if !strings.HasPrefix(k, prefix) {
			return false
		}
		if len(keys) == limit {
			more = true
			return false
		}
		keys = append(keys, k)
		return true
	})
	s.treeMu.RUnlock()
	page := driver.ListPage{Entries: make([]driver.Entry, 0, len(keys)), More: more}
	for _, k := range keys {
		sh := s.shardOf(k)
		sh.mu.RLock()
		it, ok := sh.m[k]
		sh.mu.RUnlock()
		if ok { // deleted since the tree was read: skip
			page.Entries = append(page.Entries, driver.Entry{Key: k, Value: it.value, Version: driver.NumVersion(it.version)})
		}
	}
	return page, nil
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
