package migration_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orbit-go/orbit/persistence"
	"github.com/orbit-go/orbit/persistence/driver"
	"github.com/orbit-go/orbit/persistence/migration"
)

func mustRun(t *testing.T, from, to persistence.Provider, opts migration.Options) migration.Result {
	t.Helper()
	res, err := migration.Run(context.Background(), from, to, opts)
	if err != nil {
		t.Fatalf("migrate %s -> %s: %v", from.Name(), to.Name(), err)
	}
	return res
}

func wantValid(t *testing.T, res migration.Result) {
	t.Helper()
	if !res.ValidationRan || !res.Validated || !res.OK() {
		t.Fatalf("validation: ran %t, ok %t, %d mismatches %v, failures %v", res.ValidationRan, res.Validated, res.MismatchCount, res.Mismatches, res.Failures)
	}
}

// Expired and released records are copied by default with their epochs, so
// the next placement on the target continues the source's sequence; with
// SkipExpired they are counted as skipped; a dry run writes nothing.
func TestExpiredRecordsAndDryRun(t *testing.T) {
	clk := newClock()
	src := openMemory(t, "old", clk)
	d := dataset{ns: "default", leases: 2000, nodes: 20, expired: 100, released: 50}
	populate(t, src, clk, d)
	ctx := context.Background()

	dry := openMemory(t, "dry", clk)
	res := mustRun(t, src, dry, migration.Options{DryRun: true, Validate: true, BatchSize: 300})
	if res.LeasesMigrated != 2000 || res.NodesMigrated != 20 || !res.DryRun || res.ValidationRan {
		t.Fatalf("dry run: %+v", res)
	}
	if all, _ := countRecords(t, dry); all != 0 {
		t.Fatalf("dry run wrote %d lease records", all)
	}
	if ns, _ := dry.Nodes().ListAll(ctx, ""); len(ns) != 0 {
		t.Fatalf("dry run wrote %d nodes", len(ns))
	}

	dst := openMemory(t, "new", clk)
	res = mustRun(t, src, dst, migration.Options{Validate: true, BatchSize: 300})
	wantValid(t, res)
	if res.LeasesMigrated != 2000 || res.LeasesSkipped != 0 || res.NodesMigrated != 20 || res.LeasesChecked != 2000 || res.NodesChecked != 20 {
		t.Fatalf("result: %+v", res)
	}
	if all, live := countRecords(t, dst); all != 2000 || live != 2000-150 {
		t.Fatalf("target has %d records, %d live; want 2000, 1850", all, live)
	}
	// A dead record's epoch continues on the target.
	l, err := dst.Addressables().Place(ctx, ref("default", 3), nodeID("default", 1), time.Minute)
	if want := epochBase(clk.Now()) + 4; err != nil || l.Epoch != want {
		t.Fatalf("place after migration: epoch %d, %v; want %d (the source's + 1)", l.Epoch, err, want)
	}

	skip := openMemory(t, "skip", clk)
	res = mustRun(t, src, skip, migration.Options{Validate: true, SkipExpired: true})
	wantValid(t, res)
	if res.LeasesMigrated != 1850 || res.LeasesSkipped != 150 || res.NodesMigrated != 20 {
		t.Fatalf("skip expired: %+v", res)
	}
}

// The target holds a newer epoch for one lease: Store's epoch rule refuses
// to lower it; the record is reported as failed, naming it, and the rest is
// migrated. Validation reports the difference.
func TestTargetNewerEpochIsKept(t *testing.T) {
	clk := newClock()
	src, dst := openMemory(t, "old", clk), openMemory(t, "new", clk)
	populate(t, src, clk, dataset{ns: "default", leases: 500, nodes: 5})
	ctx := context.Background()
	newer := persistence.AddressableLease{Reference: ref("default", 7), Node: nodeID("default", 4), CreatedAt: clk.Now(),
		RenewAt: clk.Now(), ExpiresAt: clk.Now().Add(time.Hour), Epoch: epochBase(clk.Now()) + 1_000_000}
	if err := dst.Addressables().Store(ctx, newer); err != nil {
		t.Fatal(err)
	}
	res := mustRun(t, src, dst, migration.Options{Validate: true, BatchSize: 100})
	if res.OK() || res.LeasesFailed != 1 || res.LeasesMigrated != 499 || len(res.Failures) != 1 {
		t.Fatalf("result: %+v", res)
	}
	if f := res.Failures[0]; !strings.Contains(f.Key, "u-0000007") || !strings.Contains(f.Error, `target provider "new"`) ||
		!strings.Contains(f.Error, "epoch") {
		t.Fatalf("failure: %+v", f)
	}
	if res.MismatchCount != 1 || res.Mismatches[0].Kind != migration.NewerOnTarget {
		t.Fatalf("mismatches: %v", res.Mismatches)
	}
	if got, err := dst.Addressables().Get(ctx, ref("default", 7)); err != nil || !got.Equal(newer) {
		t.Fatalf("the target's newer lease was replaced: %+v, %v", got, err)
	}
}

// A record that cannot be decoded on the source stops the migration before
// the batch that holds it, naming the key; the target keeps the complete
// batches; once the record is removed, the run resumes with that batch.
func TestCorruptSourceRecordStops(t *testing.T) {
	clk := newClock()
	src, dst := openMemory(t, "old", clk), openMemory(t, "new", clk)
	populate(t, src, clk, dataset{ns: "default", leases: 1000, nodes: 5})
	ctx := context.Background()
	page, err := persistence.ScanLeaseRecords(ctx, src, persistence.PageRequest{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	bad := page.Records[450].Key
	if _, err := persistence.StoreOf(src).Put(ctx, bad, []byte("\xff garbage \x00"), driver.Unconditional()); err != nil {
		t.Fatal(err)
	}
	cp := migration.FileCheckpoint{Path: filepath.Join(t.TempDir(), "cp.json")}
	_, err = migration.Run(ctx, src, dst, migration.Options{BatchSize: 100, Checkpoint: cp})
	if !errors.Is(err, persistence.ErrCorrupt) || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), `source provider "old"`) {
		t.Fatalf("run over a corrupt record: %v", err)
	}
	got, err := persistence.ScanLeaseRecords(ctx, dst, persistence.PageRequest{Limit: 2000})
	if err != nil || len(got.Records) != 400 {
		t.Fatalf("target after the stop: %d records (%v), want the 4 complete batches", len(got.Records), err)
	}
	if err := persistence.StoreOf(src).Delete(ctx, bad, driver.Unconditional()); err != nil {
		t.Fatal(err)
	}
	res, err := migration.Run(ctx, src, dst, migration.Options{BatchSize: 100, Checkpoint: cp, Validate: true})
	if err != nil || !res.OK() || !res.Resumed || res.LeasesMigrated != 999 {
		t.Fatalf("resumed run: %+v, %v", res, err)
	}
}

// With SkipCorrupt, a record that cannot be decoded on the source is
// reported by key and counted as failed; the rest is migrated; validation
// names it.
func TestCorruptSourceRecordSkipped(t *testing.T) {
	clk := newClock()
	src, dst := openMemory(t, "old", clk), openMemory(t, "new", clk)
	populate(t, src, clk, dataset{ns: "default", leases: 1000, nodes: 5})
	ctx := context.Background()
	page, err := persistence.ScanLeaseRecords(ctx, src, persistence.PageRequest{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	bad := page.Records[5].Key
	if _, err := persistence.StoreOf(src).Put(ctx, bad, []byte("\xff garbage \x00"), driver.Unconditional()); err != nil {
		t.Fatal(err)
	}
	res := mustRun(t, src, dst, migration.Options{Validate: true, BatchSize: 100, SkipCorrupt: true})
	if res.OK() || res.LeasesFailed != 1 || res.LeasesMigrated != 999 {
		t.Fatalf("result: %+v", res)
	}
	if f := res.Failures[0]; f.Key != bad || !strings.Contains(f.Error, `source provider "old"`) || !strings.Contains(f.Error, "decode lease") {
		t.Fatalf("failure: %+v", f)
	}
	if res.MismatchCount != 1 || res.Mismatches[0].Kind != migration.Corrupt || res.Mismatches[0].Key != bad {
		t.Fatalf("mismatches: %v", res.Mismatches)
	}
}

func TestBadArguments(t *testing.T) {
	clk := newClock()
	a := openMemory(t, "a", clk)
	for _, c := range []struct {
		from, to persistence.Provider
		opts     migration.Options
	}{{a, a, migration.Options{}}, {a, nil, migration.Options{}}, {a, openMemory(t, "b", clk), migration.Options{BatchSize: -1}}} {
		if _, err := migration.Run(context.Background(), c.from, c.to, c.opts); !errors.Is(err, persistence.ErrInvalidArgument) {
			t.Errorf("Run(%v): %v, want ErrInvalidArgument", c.opts, err)
		}
	}
}
