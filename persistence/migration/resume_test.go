package migration_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/orbit-go/orbit/internal/testbackend/redistest"
	"github.com/orbit-go/orbit/persistence"
	"github.com/orbit-go/orbit/persistence/migration"
)

// crashingCheckpoint is a FileCheckpoint whose Save fails from the
// failAt-th call on, like a process that crashes after writing a batch to
// the target but before recording it.
type crashingCheckpoint struct {
	migration.FileCheckpoint
	saves, failAt int
}

var errCrash = errors.New("simulated crash before the checkpoint was saved")

func (c *crashingCheckpoint) Save(ctx context.Context, cp migration.Checkpoint) error {
	c.saves++
	if c.saves >= c.failAt {
		return errCrash
	}
	return c.FileCheckpoint.Save(ctx, cp)
}

// A migration interrupted halfway (the context cancelled after 10 of 20
// batches) resumes from its checkpoint; a second run that "crashes" after
// writing a batch but before checkpointing it copies that batch again on
// resume. At the end nothing is lost, nothing is duplicated, the counts are
// exact and every epoch equals the source's. A lease renewed on the source
// between the runs (a live cluster) is reported by validation, and a plain
// re-run picks it up.
func TestInterruptAndResume(t *testing.T) {
	rsrv := redistest.Start(t)
	clk := newClock()
	src := openMemory(t, "memory", clk)
	const n = 20_000
	populate(t, src, clk, dataset{ns: "default", leases: n, nodes: 100, expired: 300})
	dst := openRedis(t, rsrv, "resume", clk)
	path := t.TempDir() + "/migrate.checkpoint.json"
	file := migration.FileCheckpoint{Path: path}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// 1. Ctrl-C after batch 10: the batch in flight completes, then Run stops.
	res, err := migration.Run(ctx, src, dst, migration.Options{BatchSize: 1000, Checkpoint: file, Progress: func(p migration.Progress) {
		if p.Phase == migration.PhaseLeases && p.Batches == 10 {
			cancel()
		}
	}})
	if !errors.Is(err, migration.ErrInterrupted) || !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: %v", err)
	}
	if res.LeasesMigrated != 10_000 || res.NodesMigrated != 100 {
		t.Fatalf("interrupted run: %+v", res)
	}
	cp, found, err := file.Load(context.Background())
	if err != nil || !found || cp.Batches != 10 || cp.LeaseToken == "" || cp.LeasesDone || cp.LeasesMigrated != 10_000 {
		t.Fatalf("checkpoint after interruption: %+v, %t, %v", cp, found, err)
	}
	if all, _ := countRecords(t, dst); all != 10_000 {
		t.Fatalf("target has %d records after 10 batches", all)
	}

	// 2. Resume, and crash after writing batch 14 (4 more saves succeed).
	crash := &crashingCheckpoint{FileCheckpoint: file, failAt: 5}
	res, err = migration.Run(context.Background(), src, dst, migration.Options{BatchSize: 1000, Checkpoint: crash})
	if !errors.Is(err, errCrash) || !res.Resumed {
		t.Fatalf("crashing run: %v, %+v", err, res)
	}
	cp, _, _ = file.Load(context.Background())
	if cp.Batches != 14 || cp.LeasesMigrated != 14_000 {
		t.Fatalf("checkpoint after the crash: %d batches, %d leases; want 14, 14000", cp.Batches, cp.LeasesMigrated)
	}
	if all, _ := countRecords(t, dst); all != 15_000 {
		t.Fatalf("target has %d records; batch 15 was written before the crash", all)
	}

	// 3. Meanwhile a live cluster renews a lease already copied.
	renewed, err := src.Addressables().Renew(context.Background(), ref("default", 500), nodeID("default", 0), epochBase(clk.Now())+500, 2*time.Hour)
	if err != nil {
		t.Fatal(err)
	}

	// 4. Resume to the end: batch 15 is copied again, harmlessly.
	res = mustRun(t, src, dst, migration.Options{BatchSize: 1000, Checkpoint: file, Validate: true})
	if !res.Resumed || res.LeasesMigrated != n || res.LeasesFailed != 0 || res.NodesMigrated != 100 {
		t.Fatalf("resumed run: %+v", res)
	}
	if _, found, _ := file.Load(context.Background()); found {
		t.Fatal("the checkpoint is left after a completed migration")
	}
	if res.Validated || res.MismatchCount != 1 || res.Mismatches[0].Kind != migration.RenewedOnSource {
		t.Fatalf("validation should report the lease renewed on the source: %d %v", res.MismatchCount, res.Mismatches)
	}
	t.Logf("reported: %s", res.Mismatches[0])
	if all, live := countRecords(t, dst); all != n || live != n-300 {
		t.Fatalf("target has %d records, %d live; want %d, %d", all, live, n, n-300)
	}

	// 5. A plain re-run (the cluster stopped) brings the renewal over.
	res = mustRun(t, src, dst, migration.Options{Validate: true})
	wantValid(t, res)
	got, err := dst.Addressables().Get(context.Background(), ref("default", 500))
	if err != nil || !got.Equal(renewed) {
		t.Fatalf("renewed lease on the target: %+v, %v; want %+v", got, err, renewed)
	}
	// Every epoch equals the source's (validation compared them; spot check).
	for _, i := range []int{300, 9_999, 10_000, 14_999, 15_000, n - 1} {
		l, err := dst.Addressables().Get(context.Background(), ref("default", i))
		if err != nil || l.Epoch != epochBase(clk.Now())+uint64(i) {
			t.Fatalf("lease %d on the target: epoch %d, %v", i, l.Epoch, err)
		}
	}
}

// A checkpoint of another migration is refused.
func TestCheckpointOfAnotherMigration(t *testing.T) {
	clk := newClock()
	a, b, c := openMemory(t, "a", clk), openMemory(t, "b", clk), openMemory(t, "c", clk)
	populate(t, a, clk, dataset{ns: "default", leases: 100, nodes: 2})
	file := migration.FileCheckpoint{Path: t.TempDir() + "/cp.json"}
	ctx, cancel := context.WithCancel(context.Background())
	_, err := migration.Run(ctx, a, b, migration.Options{BatchSize: 10, Checkpoint: file, Progress: func(p migration.Progress) {
		if p.Batches == 1 {
			cancel()
		}
	}})
	if !errors.Is(err, migration.ErrInterrupted) {
		t.Fatal(err)
	}
	if _, err := migration.Run(context.Background(), a, c, migration.Options{Checkpoint: file}); !errors.Is(err, persistence.ErrInvalidArgument) {
		t.Fatalf("resume with another target: %v", err)
	}
}
