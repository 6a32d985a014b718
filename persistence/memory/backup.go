package memory

import (
	"errors"
	"fmt"
	"io/fs"
	"iter"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/orbit-go/orbit/persistence/driver"
	"github.com/orbit-go/orbit/persistence/internal/snapshot"
)

// BackupOptions configure the disk backup.
type BackupOptions struct {
	// Path of the backup file. Its directory is created if missing.
	Path string
	// Interval between backups (the spec's sync_interval); 0 = only on close.
	Interval time.Duration
	// Compression: "None", "Gzip", "Lz4" or "Zstd".
	Compression string
	// ReadOnly restores the backup but never writes it (inspection).
	ReadOnly bool
}

// backupLoop writes the store to disk every interval and on stop.
type backupLoop struct {
	s     *Store
	opts  BackupOptions
	lock  *backupLock // nil when ReadOnly
	mu    sync.Mutex  // serialises backups
	errM  sync.Mutex
	err   error
	stopC chan struct{}
	done  chan struct{}
}

// startBackup restores the backup file into s (if it exists) and starts the loop.
func startBackup(s *Store, opts BackupOptions) (*backupLoop, error) {
	if opts.Path == "" {
		return nil, fmt.Errorf("memory store: disk_backup.path must not be empty: %w", driver.ErrInvalidArgument)
	}
	comp, err := parseCompression(opts.Compression)
	if err != nil {
		return nil, err
	}
	opts.Compression = string(comp)
	if !opts.ReadOnly {
		if err := os.MkdirAll(filepath.Dir(opts.Path), 0o755); err != nil {
			return nil, fmt.Errorf("memory store: create disk_backup directory: %w", err)
		}
	}
	// A writer takes the backup's lock before it reads the file: a second
	// process on the same file fails here, before restoring a directory it
	// would later overwrite the other's with. ReadOnly opens (check,
	// migrate's source) never write, and take no lock.
	var lock *backupLock
	if !opts.ReadOnly {
		if lock, err = lockBackup(opts.Path); err != nil {
			return nil, err
		}
		if err := snapshot.CleanTemp(opts.Path); err != nil {
			s.log.Warn("could not remove stale backup temp files", "path", opts.Path, "error", err)
		}
	}
	ok := false
	defer func() {
		if !ok {
			_ = lock.release()
		}
	}()
	start := time.Now()
	var maxVersion uint64
	stats, err := snapshot.Read(opts.Path, func(e snapshot.Entry) error {
		if err := s.restore(e); err != nil {
			return err
		}
		maxVersion = max(maxVersion, e.Version)
		return nil
	})
	switch {
	case errors.Is(err, fs.ErrNotExist):
		s.log.Info("memory store: no disk backup yet, starting empty", "path", opts.Path)
	case errors.Is(err, driver.ErrCapacity):
		return nil, fmt.Errorf("memory store: restore disk backup %s: %w (raise max_entries to hold it)", opts.Path, err)
	case err != nil:
		return nil, fmt.Errorf("memory store: restore disk backup %s: %w (move the file away to start empty)", opts.Path, err)
	default:
		s.version.Store(maxVersion)
		s.log.Info("memory store: restored disk backup", "path", opts.Path, "entries", stats.Entries,
			"bytes", stats.Bytes, "compression", stats.Compression, "took", time.Since(start).Round(time.Millisecond))
	}
	b := &backupLoop{s: s, opts: opts, lock: lock, stopC: make(chan struct{}), done: make(chan struct{})}
	go b.loop()
	ok = true
	return b, nil
}

func parseCompression(c string) (snapshot.Compression, error) {
	switch strings.ToLower(c) {
	case "", "zstd":
		return snapshot.Zstd, nil
	case "none":
		return snapshot.None, nil
	case "gzip":
		return snapshot.Gzip, nil
	case "lz4":
		return snapshot.Lz4, nil
	}
	return "", fmt.Errorf("memory store: disk_backup.compression %q is not one of None, Gzip, Lz4, Zstd: %w", c, driver.ErrInvalidArgument)
}

// restore inserts one entry read from the backup.
func (s *Store) restore(e snapshot.Entry) error {
	key, value, version, label := e.Key, e.Value, e.Version, e.Label
	if key == "" || version == 0 {
		return fmt.Errorf("backup entry with empty key or zero version: %w", driver.ErrCorrupt)
	}
	if err := checkSizes(key, value); err != nil {
		return fmt.Errorf("restoring backup: %w", err)
	}
	h, sh := s.shardOf(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if _, exists := sh.get(h, key); exists {
		return fmt.Errorf("backup holds key %q twice: %w", key, driver.ErrCorrupt)
	}
	if err := s.reserve(key); err != nil {
		return fmt.Errorf("restoring backup: %w", err)
	}
	ref := &keyRef{}
	r := newRecord(key, value, version, nil, ref)
	ref.cur.Store(r)
	s.tree.Load(ref)
	if label != "" {
		r.label = s.labelLocked(label, ref)
	}
	sh.set(h, key, r)
	if e.ExpireAt != 0 {
		sh.file(ref, roundBucket(int64(min(e.ExpireAt, 1<<62))))
	}
	return nil
}

func (b *backupLoop) loop() {
	defer close(b.done)
	if b.opts.Interval <= 0 || b.opts.ReadOnly {
		<-b.stopC
		return
	}
	t := time.NewTicker(b.opts.Interval)
	defer t.Stop()
	for {
		select {
		case <-b.stopC:
			return
		case <-t.C:
			_ = b.run() // logged and kept for health
		}
	}
}

// entries yields the store's entries in key order, one page at a time, so
// that a lease record is always visited before its node-index entry (see
// the persistence key layout: "a/" < "x/").
func (s *Store) entries() iter.Seq[snapshot.Entry] {
	return func(yield func(snapshot.Entry) bool) {
		after := ""
		for {
			keys := make([]string, 0, 1024)
			s.treeMu.RLock()
			s.tree.Ascend(pivot(after), func(ref *keyRef) bool {
				k := ref.key()
				if k == after && after != "" {
					return true
				}
				keys = append(keys, k)
				return len(keys) < cap(keys)
			})
			s.treeMu.RUnlock()
			for _, k := range keys {
				h, sh := s.shardOf(k)
				r, ok := sh.load(h, k)
				if ok && !yield(snapshot.Entry{Key: k, Value: r.value(), Version: r.version, Label: r.labelName(),
					ExpireAt: uint64(max(r.ref.bucket.Load(), 0))}) {
					return
				}
			}
			if len(keys) < cap(keys) {
				return
			}
			after = keys[len(keys)-1]
		}
	}
}

// run writes one backup now.
func (b *backupLoop) run() error {
	if b.opts.ReadOnly {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	start := time.Now()
	stats, err := snapshot.Write(b.opts.Path, snapshot.Compression(b.opts.Compression), b.s.entries())
	b.errM.Lock()
	b.err = err
	b.errM.Unlock()
	if err != nil {
		b.s.log.Error("memory store: disk backup failed", "path", b.opts.Path, "error", err)
		return fmt.Errorf("memory store: disk backup to %s: %w", b.opts.Path, err)
	}
	b.s.log.Debug("memory store: disk backup written", "path", b.opts.Path, "entries", stats.Entries,
		"bytes", stats.Bytes, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

func (b *backupLoop) lastError() error {
	b.errM.Lock()
	defer b.errM.Unlock()
	return b.err
}

// stop ends the loop, takes the final backup and releases the lock.
func (b *backupLoop) stop() error {
	close(b.stopC)
	<-b.done
	return errors.Join(b.run(), b.lock.release())
}
