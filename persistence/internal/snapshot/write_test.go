package snapshot

import (
	"errors"
	"iter"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/orbit-go/orbit/persistence/driver"
)

// failingWrite checks that a failed Write left the old snapshot and no
// temporary file behind.
func failingWrite(t *testing.T, name string, path string, old []Entry, write func() error) {
	t.Helper()
	err := write()
	if err == nil {
		t.Fatalf("%s: Write succeeded, want an error", name)
	}
	if !strings.Contains(err.Error(), path) {
		t.Fatalf("%s: error %q does not name %s", name, err, path)
	}
	equalEntries(t, mustRead(t, path), old)
	if tmp := tempFiles(t, path); len(tmp) != 0 {
		t.Fatalf("%s: temporary files left: %v", name, tmp)
	}
}

func TestWriteFailureKeepsOldFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "snap")
	old := sampleEntries(rand.New(rand.NewPCG(1, 1)), 300)
	mustWrite(t, path, Zstd, old)
	more := sampleEntries(rand.New(rand.NewPCG(2, 2)), 5000)

	failingWrite(t, "unknown compression", path, old, func() error {
		_, err := Write(path, "Brotli", slices.Values(more))
		if !errors.Is(err, driver.ErrInvalidArgument) {
			t.Errorf("unknown compression: %v, want driver.ErrInvalidArgument", err)
		}
		return err
	})
	for _, c := range allCompressions {
		failingWrite(t, "key too long/"+string(c), path, old, func() error {
			bad := append(slices.Clone(more), Entry{Key: strings.Repeat("k", MaxKeyLen+1)})
			st, err := Write(path, c, slices.Values(bad))
			if !errors.Is(err, driver.ErrInvalidArgument) || st.Entries != len(more) {
				t.Errorf("key too long: %v after %d entries, want driver.ErrInvalidArgument after %d", err, st.Entries, len(more))
			}
			return err
		})
	}
	failingWrite(t, "fsync", path, old, func() error {
		syncFile = func(*os.File) error { return errors.New("injected fsync failure") }
		defer func() { syncFile = (*os.File).Sync }()
		_, err := Write(path, Gzip, slices.Values(more))
		return err
	})
	failingWrite(t, "rename", path, old, func() error {
		rename = func(string, string) error { return errors.New("injected rename failure") }
		defer func() { rename = os.Rename }()
		_, err := Write(path, Lz4, slices.Values(more))
		return err
	})
	failingWrite(t, "panicking seq", path, old, func() (err error) {
		defer func() {
			if r := recover(); r != "boom" {
				t.Errorf("recovered %v, want the seq's panic", r)
			}
			err = errors.New(path + ": panicked")
		}()
		Write(path, Zstd, func(yield func(Entry) bool) {
			for _, e := range more {
				if e.Version%7 == 3 {
					panic("boom")
				}
				yield(e)
			}
		})
		return nil
	})
	// The pooled zstd encoder still works after the failures above.
	mustWrite(t, path, Zstd, more)
	equalEntries(t, mustRead(t, path), more)
}

func TestWriteFailureNoTempFiles(t *testing.T) {
	dir := t.TempDir()
	// A directory that does not exist.
	missing := filepath.Join(dir, "nope", "snap")
	if _, err := Write(missing, None, slices.Values([]Entry{{Key: "k"}})); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing directory: %v, want fs.ErrNotExist", err)
	}
	// A path that is a non-empty directory: everything works up to the
	// rename, which fails; the temporary file must go.
	target := filepath.Join(dir, "snapdir")
	if err := os.MkdirAll(filepath.Join(target, "child"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Write(target, Zstd, slices.Values(sampleEntries(rand.New(rand.NewPCG(3, 3)), 100))); err == nil {
		t.Fatal("Write over a directory succeeded")
	}
	if tmp := tempFiles(t, target); len(tmp) != 0 {
		t.Fatalf("temporary files left: %v", tmp)
	}
	if fi, err := os.Stat(filepath.Join(target, "child")); err != nil || !fi.IsDir() {
		t.Fatalf("target directory damaged: %v", err)
	}
}

func TestWriteCountsEntries(t *testing.T) {
	path := filepath.Join(t.TempDir(), "snap")
	var seq iter.Seq[Entry] = countSeq(1000, func(i int) Entry { return Entry{Key: itoa(i), Value: leaseValue(i, 2)} })
	st := mustWrite(t, path, Lz4, nil)
	if st.Entries != 0 {
		t.Fatalf("empty: %+v", st)
	}
	st = mustWrite(t, path, Lz4, slices.Collect(seq))
	if st.Entries != 1000 || len(mustRead(t, path)) != 1000 {
		t.Fatalf("stats %+v", st)
	}
}

func TestCleanTemp(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "snap")
	mustWrite(t, path, None, []Entry{{Key: "k", Value: []byte("v")}})
	stale := []string{".snap.tmp-123", ".snap.tmp-abc", ".snap.tmp-"}
	keep := []string{"snap", ".other.tmp-1", "snap.tmp-1", ".snap.tmpx", ".snapx.tmp-1"}
	for _, name := range append(slices.Clone(stale), keep[1:]...) {
		writeFile(t, filepath.Join(dir, name), []byte("partial"))
	}
	// Read ignores stale temporary files.
	if got := mustRead(t, path); len(got) != 1 {
		t.Fatalf("got %d entries", len(got))
	}
	if err := CleanTemp(path); err != nil {
		t.Fatal(err)
	}
	for _, name := range stale {
		if _, err := os.Stat(filepath.Join(dir, name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s not removed: %v", name, err)
		}
	}
	for _, name := range keep {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("%s removed: %v", name, err)
		}
	}
	if err := CleanTemp(filepath.Join(dir, "missing-dir", "snap")); err != nil {
		t.Fatalf("missing directory: %v", err)
	}
	t.Chdir(dir)
	writeFile(t, ".rel.tmp-9", nil)
	if err := CleanTemp("rel"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(".rel.tmp-9"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("relative path: not removed: %v", err)
	}
}
