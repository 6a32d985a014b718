package memory

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/gofrs/flock"
	"github.com/orbit-go/orbit/persistence/driver"
)

// ErrBackupInUse is returned by Open when another process holds the disk
// backup file's lock: two servers writing one backup would each overwrite
// the other's directory. It wraps driver.ErrConflict.
var ErrBackupInUse = fmt.Errorf("disk backup in use by another process: %w", driver.ErrConflict)

// backupLock is an advisory lock (flock) on "<backup path>.lock", held for
// as long as a store writes the backup. The lock file names its holder
// (pid, host, start time) so that a second process can say who has it. The
// file stays when the lock is released: removing it could let two processes
// lock two different files of the same name.
type backupLock struct {
	fl *flock.Flock
}

// lockPathOf is the lock file of a backup file.
func lockPathOf(backupPath string) string { return backupPath + ".lock" }

// lockBackup takes the lock of backupPath without waiting. It fails with
// ErrBackupInUse, naming the file and its holder, when another process (or
// another store of this process) has it.
func lockBackup(backupPath string) (*backupLock, error) {
	path := lockPathOf(backupPath)
	fl := flock.New(path, flock.SetPermissions(0o600))
	ok, err := fl.TryLock()
	if err != nil {
		return nil, fmt.Errorf("memory store: lock disk backup %s (lock file %s): %w", backupPath, path, err)
	}
	if !ok {
		return nil, fmt.Errorf("memory store: %s: %w, held by %s; each server process needs a disk_backup.path of its own",
			backupPath, ErrBackupInUse, describeHolder(path))
	}
	host, _ := os.Hostname()
	holder := fmt.Sprintf("pid %d on host %s since %s\n", os.Getpid(), host, time.Now().UTC().Format(time.RFC3339))
	// The lock is on the file's inode; writing through another descriptor
	// keeps it.
	if err := os.WriteFile(path, []byte(holder), 0o600); err != nil {
		_ = fl.Unlock()
		return nil, fmt.Errorf("memory store: write lock file %s: %w", path, err)
	}
	return &backupLock{fl: fl}, nil
}

// describeHolder reads who holds the lock at path, as its holder wrote it.
func describeHolder(path string) string {
	b, err := os.ReadFile(path)
	if s := strings.TrimSpace(string(b)); err == nil && s != "" && len(s) < 200 {
		return s
	}
	return "another process (its lock file " + path + " names no holder)"
}

// release gives the lock up (the file stays).
func (l *backupLock) release() error {
	if l == nil {
		return nil
	}
	if err := l.fl.Unlock(); err != nil && !errors.Is(err, os.ErrClosed) {
		return fmt.Errorf("memory store: unlock %s: %w", l.fl.Path(), err)
	}
	return nil
}
