package flash_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/orbit-go/orbit/persistence"
	"github.com/orbit-go/orbit/persistence/config"
	"github.com/orbit-go/orbit/persistence/driver"
	"github.com/orbit-go/orbit/persistence/flash"
)

func TestOptionsFromConfig(t *testing.T) {
	c := config.DefaultFlashConfig()
	c.DataDir = "/nvme/orbit"
	o, err := flash.OptionsFromConfig(&c)
	if err != nil || len(o.Paths) != 1 || o.Paths[0] != "/nvme/orbit" || !o.Sync || o.IODepth != 32 ||
		o.BlockSize != 4096 || o.CacheSize != 64<<20 || o.Compression != "Lz4" || o.WriteQuorum != 0 {
		t.Fatalf("defaults: %+v, %v", o, err)
	}
	c.EnableMultipathing, c.Paths, c.WriteQuorum, c.Sync = true, []string{"/a", "/b", "/c"}, 3, false
	o, err = flash.OptionsFromConfig(&c)
	if err != nil || strings.Join(o.Paths, ",") != "/a,/b,/c" || o.WriteQuorum != 3 || o.Sync {
		t.Fatalf("multipath (data_dir unused): %+v, %v", o, err)
	}
	c = config.DefaultFlashConfig()
	c.Paths = []string{"/only"}
	if o, err = flash.OptionsFromConfig(&c); err != nil || strings.Join(o.Paths, ",") != "/only" {
		t.Fatalf("one path in paths: %+v, %v", o, err)
	}
	c.Compression = config.CompressionGzip
	if _, err := flash.OptionsFromConfig(&c); !errors.Is(err, driver.ErrInvalidArgument) || !strings.Contains(err.Error(), "Gzip is not available for Flash") {
		t.Fatalf("gzip: %v", err)
	}
}

func TestOpenThroughRegistry(t *testing.T) {
	c := config.DefaultFlashConfig()
	c.DataDir = t.TempDir()
	p, err := persistence.Open(bg, "flash", &c)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(bg)
	if got := p.Capabilities().String(); got != "batch,cache-stats,health,index,transactions" {
		t.Fatalf("capabilities = %s", got)
	}
	if _, err := p.Addressables().Place(bg, leaseRef("x"), crashNode, time.Minute); err != nil {
		t.Fatal(err)
	}
	if h := p.HealthCheck(bg); h.Status != persistence.Healthy {
		t.Fatalf("health = %s %s", h.Status, h.Reason)
	}
}

// Data and versions survive a restart; a deleted and re-created key never
// gets a version it had before, across restarts too.
func TestReopen(t *testing.T) {
	for _, n := range []int{1, 3} {
		paths := dirs(t, n)
		o := flash.Options{Paths: paths, Sync: true}
		s, err := flash.Open(bg, o)
		if err != nil {
			t.Fatal(err)
		}
		v1, err := s.Put(bg, "k", []byte("one"), driver.CreateOnly())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.PutWithOptions(bg, "l", []byte("labelled"), driver.CreateOnly(), driver.PutOptions{Label: "L"}); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(bg); err != nil {
			t.Fatal(err)
		}
		s, err = flash.Open(bg, o)
		if err != nil {
			t.Fatal(err)
		}
		if h := s.HealthCheck(bg); h.Status != driver.Healthy {
			t.Fatalf("%d paths: health after a clean reopen = %s %s", n, h.Status, h.Reason)
		}
		e, err := s.Get(bg, "k")
		if err != nil || string(e.Value) != "one" || e.Version != v1 {
			t.Fatalf("%d paths: after reopen k = %+v, %v", n, e, err)
		}
		if page, err := s.ListIndex(bg, "L", driver.ListOptions{}); err != nil || len(page.Entries) != 1 || page.Entries[0].Key != "l" {
			t.Fatalf("%d paths: label after reopen = %+v, %v", n, page, err)
		}
		if err := s.Delete(bg, "k", driver.MatchVersion(v1)); err != nil {
			t.Fatal(err)
		}
		v2, err := s.Put(bg, "k", []byte("two"), driver.CreateOnly())
		if err != nil || v2.Num() <= v1.Num() {
			t.Fatalf("%d paths: re-created version %v after %v, %v", n, v2, v1, err)
		}
		if err := s.Close(bg); err != nil {
			t.Fatal(err)
		}
	}
}

// Values are stored compressed with the configured codec, and read back
// whatever the codec configured now.
func TestCompression(t *testing.T) {
	paths := dirs(t, 1)
	big := bytes.Repeat([]byte("orbit lease record "), 200)
	small := []byte("tiny")
	for i, c := range []string{"None", "Lz4", "Zstd"} {
		s, err := flash.Open(bg, flash.Options{Paths: paths, Sync: true, Compression: c})
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"big-" + c, "small-" + c} {
			v := big
			if strings.HasPrefix(k, "small") {
				v = small
			}
			if _, err := s.Put(bg, k, bytes.Clone(v), driver.Unconditional()); err != nil {
				t.Fatal(err)
			}
		}
		page, err := s.List(bg, "", driver.ListOptions{})
		if err != nil || len(page.Entries) != 2*(i+1) {
			t.Fatalf("%s: List = %d entries, %v", c, len(page.Entries), err)
		}
		for _, e := range page.Entries {
			want := big
			if strings.HasPrefix(e.Key, "small") {
				want = small
			}
			if !bytes.Equal(e.Value, want) {
				t.Fatalf("%s: %s does not read back", c, e.Key)
			}
		}
		if err := s.Close(bg); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := flash.Open(bg, flash.Options{Paths: paths, Compression: "Gzip"}); !errors.Is(err, driver.ErrInvalidArgument) {
		t.Fatalf("gzip: %v", err)
	}
}

// With write_quorum 2 of 3, an acknowledged write may be on two paths
// only: the store refuses to open with fewer than 2 of its paths, and
// opens (Degraded) with 2.
func TestOpenNeedsEnoughPaths(t *testing.T) {
	paths := dirs(t, 3)
	s, err := flash.Open(bg, flash.Options{Paths: paths, Sync: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(bg, "k", []byte("v"), driver.Unconditional()); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(bg); err != nil {
		t.Fatal(err)
	}
	broken := func(bad ...string) func(string) vfs.FS {
		return func(p string) vfs.FS {
			for _, b := range bad {
				if p == b {
					f := &faultFS{FS: vfs.Default}
					f.broken.Store(true)
					return f
				}
			}
			return vfs.Default
		}
	}
	_, err = flash.Open(bg, flash.Options{Paths: paths, Sync: true, FS: broken(paths[0], paths[1])})
	if !errors.Is(err, driver.ErrUnavailable) || !strings.Contains(err.Error(), "only 1 of 3 paths") {
		t.Fatalf("open with 1 of 3 paths = %v, want ErrUnavailable", err)
	}
	s, err = flash.Open(bg, flash.Options{Paths: paths, Sync: true, FS: broken(paths[2])})
	if err != nil {
		t.Fatalf("open with 2 of 3 paths: %v", err)
	}
	defer s.Close(bg)
	if h := s.HealthCheck(bg); h.Status != driver.Degraded || !strings.Contains(h.Reason, paths[2]) {
		t.Fatalf("health with 2 of 3 paths = %s %s", h.Status, h.Reason)
	}
	if e, err := s.Get(bg, "k"); err != nil || string(e.Value) != "v" {
		t.Fatalf("Get = %+v, %v", e, err)
	}
}

func TestReadOnly(t *testing.T) {
	paths := dirs(t, 1)
	s, err := flash.Open(bg, flash.Options{Paths: paths, Sync: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(bg, "k", []byte("v"), driver.Unconditional()); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(bg); err != nil {
		t.Fatal(err)
	}
	ro, err := flash.Open(bg, flash.Options{Paths: paths, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close(bg)
	if e, err := ro.Get(bg, "k"); err != nil || string(e.Value) != "v" {
		t.Fatalf("read-only Get = %+v, %v", e, err)
	}
	if _, err := ro.Put(bg, "k", []byte("w"), driver.Unconditional()); !errors.Is(err, driver.ErrUnsupported) {
		t.Fatalf("read-only Put = %v, want ErrUnsupported", err)
	}
}

// io_depth 1 with three paths: every engine call waits for the previous
// one, and concurrent writers, listings and a re-synchronisation still
// make progress (no call holds one slot while waiting for another).
func TestIODepthOne(t *testing.T) {
	s := openStore(t, flash.Options{Paths: dirs(t, 3), Sync: true, IODepth: 1})
	p := persistence.NewProvider("flash", "Flash", s)
	w := startWriter(p.Addressables(), "io")
	waitFor(t, "300 writes with io_depth 1", 30*time.Second, func() bool { return w.count() >= 300 })
	if _, err := p.Addressables().ListByNode(bg, crashNode, persistence.PageRequest{}); err != nil {
		t.Fatal(err)
	}
	acked := w.halt()
	if n := w.fails.Load(); n != 0 {
		t.Fatalf("%d writes failed", n)
	}
	for key := range acked {
		if _, err := p.Addressables().Get(bg, leaseRef(key)); err != nil {
			t.Fatal(err)
		}
	}
}
