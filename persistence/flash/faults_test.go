package flash_test

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/orbit-go/orbit/persistence"
	"github.com/orbit-go/orbit/persistence/driver"
	"github.com/orbit-go/orbit/persistence/flash"
)

// faultFS is the operating system's file system with a switch: while
// broken, every operation that writes (create, write, sync, rename,
// remove, link, mkdir, lock, preallocate) fails with EROFS, as on a disk
// that the kernel remounted read-only. Reads keep working. The test runs
// as root, for which chmod does not stop writes: an injected file system
// is the honest way to make one path unwritable while the others work.
type faultFS struct {
	vfs.FS
	broken atomic.Bool
	hits   atomic.Int64
}

func (f *faultFS) err(op, name string) error {
	if !f.broken.Load() {
		return nil
	}
	f.hits.Add(1)
	return &os.PathError{Op: op, Path: name, Err: syscall.EROFS}
}

func (f *faultFS) wrap(file vfs.File, err error) (vfs.File, error) {
	if err != nil {
		return nil, err
	}
	return &faultFile{File: file, fs: f}, nil
}

func (f *faultFS) Create(name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	if err := f.err("create", name); err != nil {
		return nil, err
	}
	return f.wrap(f.FS.Create(name, c))
}

func (f *faultFS) Open(name string, opts ...vfs.OpenOption) (vfs.File, error) {
	return f.wrap(f.FS.Open(name, opts...))
}

func (f *faultFS) OpenReadWrite(name string, c vfs.DiskWriteCategory, opts ...vfs.OpenOption) (vfs.File, error) {
	if err := f.err("open", name); err != nil {
		return nil, err
	}
	return f.wrap(f.FS.OpenReadWrite(name, c, opts...))
}

func (f *faultFS) OpenDir(name string) (vfs.File, error) { return f.wrap(f.FS.OpenDir(name)) }

func (f *faultFS) Link(a, b string) error {
	if err := f.err("link", b); err != nil {
		return err
	}
	return f.FS.Link(a, b)
}

func (f *faultFS) Remove(name string) error {
	if err := f.err("remove", name); err != nil {
		return err
	}
	return f.FS.Remove(name)
}

func (f *faultFS) RemoveAll(name string) error {
	if err := f.err("remove", name); err != nil {
		return err
	}
	return f.FS.RemoveAll(name)
}

func (f *faultFS) Rename(a, b string) error {
	if err := f.err("rename", b); err != nil {
		return err
	}
	return f.FS.Rename(a, b)
}

func (f *faultFS) ReuseForWrite(a, b string, c vfs.DiskWriteCategory) (vfs.File, error) {
	if err := f.err("reuse", b); err != nil {
		return nil, err
	}
	return f.wrap(f.FS.ReuseForWrite(a, b, c))
}

func (f *faultFS) MkdirAll(dir string, perm os.FileMode) error {
	if err := f.err("mkdir", dir); err != nil {
		return err
	}
	return f.FS.MkdirAll(dir, perm)
}

func (f *faultFS) Lock(name string) (io.Closer, error) {
	if err := f.err("lock", name); err != nil {
		return nil, err
	}
	return f.FS.Lock(name)
}

func (f *faultFS) Unwrap() vfs.FS { return f.FS }

type faultFile struct {
	vfs.File
	fs *faultFS
}

func (f *faultFile) Write(p []byte) (int, error) {
	if err := f.fs.err("write", ""); err != nil {
		return 0, err
	}
	return f.File.Write(p)
}

func (f *faultFile) WriteAt(p []byte, off int64) (int, error) {
	if err := f.fs.err("write", ""); err != nil {
		return 0, err
	}
	return f.File.WriteAt(p, off)
}

func (f *faultFile) Sync() error {
	if err := f.fs.err("sync", ""); err != nil {
		return err
	}
	return f.File.Sync()
}

func (f *faultFile) SyncData() error {
	if err := f.fs.err("sync", ""); err != nil {
		return err
	}
	return f.File.SyncData()
}

func (f *faultFile) SyncTo(n int64) (bool, error) {
	if err := f.fs.err("sync", ""); err != nil {
		return false, err
	}
	return f.File.SyncTo(n)
}

func (f *faultFile) Preallocate(off, n int64) error {
	if err := f.fs.err("preallocate", ""); err != nil {
		return err
	}
	return f.File.Preallocate(off, n)
}

func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("FLASH_TEST_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// writer places leases from 4 goroutines until stopped and remembers every
// acknowledged one.
type writer struct {
	dir   persistence.AddressableDirectory
	mu    sync.Mutex
	acked map[string]uint64
	fails atomic.Int64
	stop  chan struct{}
	wg    sync.WaitGroup
}

func startWriter(dir persistence.AddressableDirectory, prefix string) *writer {
	w := &writer{dir: dir, acked: map[string]uint64{}, stop: make(chan struct{})}
	for g := 0; g < 4; g++ {
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			for i := 0; ; i++ {
				select {
				case <-w.stop:
					return
				default:
				}
				key := fmt.Sprintf("%s-%d-%d", prefix, g, i)
				l, err := dir.Place(bg, leaseRef(key), crashNode, time.Hour)
				if err != nil {
					w.fails.Add(1)
					continue
				}
				w.mu.Lock()
				w.acked[key] = l.Epoch
				w.mu.Unlock()
			}
		}()
	}
	return w
}

func (w *writer) halt() map[string]uint64 {
	close(w.stop)
	w.wg.Wait()
	return w.acked
}

func (w *writer) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.acked)
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkEveryPath opens each path alone (a one-path store reading that
// path's copy) and checks that it holds every acknowledged lease.
func checkEveryPath(t *testing.T, paths []string, want map[string]uint64) {
	t.Helper()
	for _, p := range paths {
		s, err := flash.Open(bg, flash.Options{Paths: []string{p}, Sync: true})
		if err != nil {
			t.Fatalf("open %s alone: %v", p, err)
		}
		dir := persistence.NewProvider("flash", "Flash", s).Addressables()
		for key, epoch := range want {
			l, err := dir.Get(bg, leaseRef(key))
			if err != nil || l.Epoch != epoch {
				t.Fatalf("path %s: lease %s = %+v, %v; want epoch %d", p, key, l, err, epoch)
			}
		}
		if err := s.Close(bg); err != nil {
			t.Fatal(err)
		}
	}
}

// TestUnwritablePath: one of three paths becomes unwritable while leases
// are written from 4 goroutines. Writes continue, health turns Degraded
// naming the path; once the path is writable again it is reopened,
// re-synchronised while writes go on, and health returns to Healthy;
// every path then holds every acknowledged write.
func TestUnwritablePath(t *testing.T) {
	paths := dirs(t, 3)
	faulty := &faultFS{FS: vfs.Default}
	s, err := flash.Open(bg, flash.Options{Paths: paths, Sync: true, Compression: "Lz4", RetryInterval: 50 * time.Millisecond, Logger: testLogger(t),
		FS: func(p string) vfs.FS {
			if p == paths[1] {
				return faulty
			}
			return vfs.Default
		}})
	if err != nil {
		t.Fatal(err)
	}
	p := persistence.NewProvider("flash", "Flash", s)
	w := startWriter(p.Addressables(), "lease")
	waitFor(t, "200 writes before the fault", 20*time.Second, func() bool { return w.count() >= 200 })

	faulty.broken.Store(true)
	waitFor(t, "health Degraded", 20*time.Second, func() bool { return s.HealthCheck(bg).Status == driver.Degraded })
	h := s.HealthCheck(bg)
	if !strings.Contains(h.Reason, paths[1]) || !strings.Contains(h.Reason, "read-only file system") {
		t.Fatalf("degraded health does not name the path and its error: %q", h.Reason)
	}
	t.Logf("while broken: %s", h.Reason)
	before := w.count()
	waitFor(t, "300 writes while a path is broken", 20*time.Second, func() bool { return w.count() >= before+300 })
	hits := faulty.hits.Load()
	waitFor(t, "failed attempts to reopen the broken path", 20*time.Second, func() bool { return faulty.hits.Load() >= hits+3 })
	if h := s.HealthCheck(bg); h.Status != driver.Degraded {
		t.Fatalf("health while the path is still broken = %s %s", h.Status, h.Reason)
	}

	faulty.broken.Store(false)
	waitFor(t, "health Healthy after the path is restored", 30*time.Second, func() bool { return s.HealthCheck(bg).Status == driver.Healthy })
	before = w.count()
	waitFor(t, "writes after the recovery", 20*time.Second, func() bool { return w.count() >= before+100 })
	want := w.halt()
	if n := w.fails.Load(); n != 0 {
		t.Errorf("%d writes failed although two of three paths were writable throughout", n)
	}
	if faulty.hits.Load() == 0 {
		t.Fatal("no fault was injected: the test tested nothing")
	}
	if err := p.Close(bg); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d acknowledged writes, %d injected faults", len(want), faulty.hits.Load())
	checkEveryPath(t, paths, want)
}

// TestQuorumLost: with two of three paths unwritable, writes fail with
// ErrUnavailable and health is Unhealthy; after both are restored the
// store recovers by itself, and nothing acknowledged is lost.
func TestQuorumLost(t *testing.T) {
	paths := dirs(t, 3)
	fs := []*faultFS{{FS: vfs.Default}, {FS: vfs.Default}}
	s, err := flash.Open(bg, flash.Options{Paths: paths, Sync: true, RetryInterval: 50 * time.Millisecond,
		FS: func(p string) vfs.FS {
			switch p {
			case paths[0]:
				return fs[0]
			case paths[2]:
				return fs[1]
			}
			return vfs.Default
		}})
	if err != nil {
		t.Fatal(err)
	}
	p := persistence.NewProvider("flash", "Flash", s)
	dir := p.Addressables()
	want := map[string]uint64{}
	place := func(key string) error {
		l, err := dir.Place(bg, leaseRef(key), crashNode, time.Hour)
		if err == nil {
			want[key] = l.Epoch
		}
		return err
	}
	for i := 0; i < 50; i++ {
		if err := place(fmt.Sprint("a", i)); err != nil {
			t.Fatal(err)
		}
	}
	fs[0].broken.Store(true)
	fs[1].broken.Store(true)
	var err2 error
	for i := 0; i < 10 && err2 == nil; i++ {
		err2 = place(fmt.Sprint("b", i))
	}
	if !errors.Is(err2, driver.ErrUnavailable) {
		t.Fatalf("write with 1 of 3 paths writable = %v, want ErrUnavailable", err2)
	}
	if h := s.HealthCheck(bg); h.Status != driver.Unhealthy {
		t.Fatalf("health with 1 of 3 paths = %s %s", h.Status, h.Reason)
	}
	if _, err := dir.Get(bg, leaseRef("a1")); err != nil {
		t.Fatalf("reads go on from the remaining path: %v", err)
	}
	fs[0].broken.Store(false)
	fs[1].broken.Store(false)
	waitFor(t, "health Healthy after both paths are restored", 30*time.Second, func() bool { return s.HealthCheck(bg).Status == driver.Healthy })
	for i := 0; i < 50; i++ {
		if err := place(fmt.Sprint("c", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Close(bg); err != nil {
		t.Fatal(err)
	}
	checkEveryPath(t, paths, want)
}
