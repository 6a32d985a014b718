package flash

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/orbit-go/orbit/persistence/driver"
)

// TestVerifyAfterCrash simulates a crash of a three-path store with
// Pebble's crashable in-memory file systems (each path keeps exactly what
// was synced), makes one path differ from the others as an in-flight,
// unacknowledged write would (an extra record, a missing one, a changed
// label), and checks that the store is writable at once after the
// restart, reports the verification, repairs the path and becomes Healthy.
func TestVerifyAfterCrash(t *testing.T) {
	ctx := context.Background()
	paths := []string{"/p0", "/p1", "/p2"}
	fss := map[string]*vfs.MemFS{}
	for _, p := range paths {
		fss[p] = vfs.NewCrashableMem()
	}
	opts := func(fs map[string]*vfs.MemFS) Options {
		return Options{Paths: paths, Sync: true, RetryInterval: 20 * time.Millisecond,
			FS: func(p string) vfs.FS { return fs[p] }}
	}
	s, err := Open(ctx, opts(fss))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		if _, err := s.PutWithOptions(ctx, fmt.Sprintf("k%03d", i), []byte("v"), driver.CreateOnly(), driver.PutOptions{Label: "L"}); err != nil {
			t.Fatal(err)
		}
	}
	crashed := map[string]*vfs.MemFS{}
	for _, p := range paths {
		crashed[p] = fss[p].CrashClone(vfs.CrashCloneCfg{})
	}
	_ = s.Close(ctx) // the original; the clones are what a crash left

	// Path 2 differs on three keys, as writes in flight at the crash can.
	db, err := pebble.Open("/p2", &pebble.Options{FS: crashed["/p2"], FormatMajorVersion: pebble.FormatNewest, Logger: nopLogger{}})
	if err != nil {
		t.Fatal(err)
	}
	b := db.NewBatch()
	_ = b.Set(dataKey("bogus"), encodeRecord(1<<40, "L", payload{data: []byte("x")}), nil)
	_ = b.Set(indexKey("L", "bogus"), []byte{}, nil)
	_ = b.Delete(dataKey("k005"), nil)
	_ = b.Delete(indexKey("L", "k005"), nil)
	_ = b.Set(dataKey("k006"), encodeRecord(1<<41, "M", payload{data: []byte("y")}), nil)
	_ = b.Delete(indexKey("L", "k006"), nil)
	_ = b.Set(indexKey("M", "k006"), []byte{}, nil)
	if err := db.Apply(b, pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = Open(ctx, opts(crashed))
	if err != nil {
		t.Fatal(err)
	}
	if h := s.HealthCheck(ctx); h.Status != driver.Degraded && h.Status != driver.Healthy {
		t.Fatalf("health right after the restart = %s %s", h.Status, h.Reason)
	}
	if _, err := s.Put(ctx, "after", []byte("v"), driver.CreateOnly()); err != nil {
		t.Fatalf("a write right after an unclean restart: %v", err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for s.HealthCheck(ctx).Status != driver.Healthy {
		if time.Now().After(deadline) {
			t.Fatalf("not Healthy within 20s: %s", s.HealthCheck(ctx).Reason)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}

	// Path 2 alone now holds what the others hold.
	one, err := Open(ctx, Options{Paths: []string{"/p2"}, Sync: true, FS: func(string) vfs.FS { return crashed["/p2"] }})
	if err != nil {
		t.Fatal(err)
	}
	defer one.Close(ctx)
	if _, err := one.Get(ctx, "bogus"); err == nil {
		t.Fatal("the extra record is still on the repaired path")
	}
	for _, k := range []string{"k005", "k006", "after"} {
		if e, err := one.Get(ctx, k); err != nil || string(e.Value) != "v" {
			t.Fatalf("%s on the repaired path = %+v, %v", k, e, err)
		}
	}
	page, err := one.ListIndex(ctx, "L", driver.ListOptions{})
	if err != nil || len(page.Entries) != 100 {
		t.Fatalf("label L on the repaired path lists %d entries, %v; want 100", len(page.Entries), err)
	}
	if page, _ := one.ListIndex(ctx, "M", driver.ListOptions{}); len(page.Entries) != 0 {
		t.Fatalf("label M on the repaired path = %+v", page.Entries)
	}
}

type nopLogger struct{}

func (nopLogger) Infof(string, ...any)  {}
func (nopLogger) Errorf(string, ...any) {}
func (nopLogger) Fatalf(f string, a ...any) {
	panic(fmt.Sprintf(f, a...))
}
