package migration_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/orbit-go/orbit/internal/testbackend/etcdtest"
	"github.com/orbit-go/orbit/internal/testbackend/redistest"
	"github.com/orbit-go/orbit/internal/testbackend/s3test"
	"github.com/orbit-go/orbit/persistence"
	"github.com/orbit-go/orbit/persistence/migration"
)

// 100,000 leases (1,000 of them expired, 500 released) and 1,000 nodes
// travel memory -> etcd -> Redis between real servers, each hop validated
// by reading both sides back.
func TestMemoryToEtcdToRedis100k(t *testing.T) {
	if testing.Short() {
		t.Skip("100,000 leases through two servers")
	}
	t.Parallel()
	rsrv := redistest.Start(t) // skips without redis-server
	esrv := etcdtest.Start(t)
	clk := newClock()
	mem := openMemory(t, "memory", clk)
	populate(t, mem, clk, dataset{ns: "default", leases: 100_000, nodes: 1000, expired: 1000, released: 500})
	et := openEtcd(t, esrv, "mig", clk)
	rd := openRedis(t, rsrv, "mig", clk)

	var last migration.Progress
	res := mustRun(t, mem, et, migration.Options{Validate: true, Progress: func(p migration.Progress) { last = p }})
	wantValid(t, res)
	t.Logf("memory -> etcd: %d leases, %d nodes in %s", res.LeasesMigrated, res.NodesMigrated, res.Duration)
	if res.LeasesMigrated != 100_000 || res.NodesMigrated != 1000 || res.LeasesChecked != 100_000 || res.NodesChecked != 1000 {
		t.Fatalf("memory -> etcd: %+v", res)
	}
	if last.Phase != migration.PhaseValidate || last.Done != 101_000 {
		t.Fatalf("last progress: %+v", last)
	}

	res = mustRun(t, et, rd, migration.Options{Validate: true, BatchSize: 2000})
	wantValid(t, res)
	t.Logf("etcd -> redis: %d leases, %d nodes in %s", res.LeasesMigrated, res.NodesMigrated, res.Duration)
	if res.LeasesMigrated != 100_000 || res.NodesMigrated != 1000 {
		t.Fatalf("etcd -> redis: %+v", res)
	}
	if all, live := countRecords(t, rd); all != 100_000 || live != 100_000-1500 {
		t.Fatalf("redis has %d records, %d live", all, live)
	}
}

// Redis -> S3 (gofakes3 in process, and versitygw when installed), with
// validation: 3,000 leases and 30 nodes. 100,000 leases are too slow for
// the S3 test servers under -race (5,000 took 48 s on versitygw and 76 s on
// gofakes3 on the 2-core CI machine; see docs/migration.md).
func TestRedisToS3(t *testing.T) {
	t.Parallel()
	rsrv := redistest.Start(t)
	clk := newClock()
	rd := openRedis(t, rsrv, "s3src", clk)
	populate(t, rd, clk, dataset{ns: "default", leases: 3000, nodes: 30, expired: 30, released: 30})
	s3test.Each(t, func(t *testing.T, srv *s3test.Server) {
		s3p := openS3(t, srv, clk)
		res := mustRun(t, rd, s3p, migration.Options{Validate: true, BatchSize: 500})
		wantValid(t, res)
		t.Logf("redis -> %s: %d leases, %d nodes in %s", srv.Kind, res.LeasesMigrated, res.NodesMigrated, res.Duration)
		if res.LeasesMigrated != 3000 || res.NodesMigrated != 30 {
			t.Fatalf("redis -> s3: %+v", res)
		}
	})
}

// A target killed in the middle stops the migration with an error naming
// it; every completed batch is on the target and the checkpoint points
// after the last one; once the server is back, the resumed migration
// completes and validates.
func TestTargetKilledMidway(t *testing.T) {
	rsrv := redistest.Start(t, redistest.WithPersistence())
	clk := newClock()
	src := openMemory(t, "memory", clk)
	populate(t, src, clk, dataset{ns: "default", leases: 10_000, nodes: 10})
	dst := openRedis(t, rsrv, "kill", clk)
	cp := migration.FileCheckpoint{Path: t.TempDir() + "/cp.json"}
	ctx := context.Background()
	_, err := migration.Run(ctx, src, dst, migration.Options{BatchSize: 1000, Checkpoint: cp, Progress: func(p migration.Progress) {
		if p.Phase == migration.PhaseLeases && p.Batches == 4 {
			rsrv.Kill(t)
		}
	}})
	if err == nil || !errors.Is(err, persistence.ErrUnavailable) || !strings.Contains(err.Error(), `target provider "redis" (Redis)`) {
		t.Fatalf("migration to a killed target: %v; want ErrUnavailable naming the target", err)
	}
	t.Logf("error: %v", err)
	saved, found, lerr := cp.Load(ctx)
	if lerr != nil || !found || saved.Batches != 4 || saved.LeasesMigrated != 4000 || !saved.NodesDone {
		t.Fatalf("checkpoint %+v (found %t, %v): want 4 batches done", saved, found, lerr)
	}
	rsrv.Restart(t)
	if all, _ := countRecords(t, dst); all != 4000 {
		t.Fatalf("target holds %d records after the kill, want the 4 completed batches", all)
	}
	res := mustRun(t, src, dst, migration.Options{BatchSize: 1000, Checkpoint: cp, Validate: true})
	wantValid(t, res)
	if !res.Resumed || res.LeasesMigrated != 10_000 {
		t.Fatalf("resumed: %+v", res)
	}
}

// A source killed in the middle stops the migration with an error naming it.
func TestSourceKilledMidway(t *testing.T) {
	rsrv := redistest.Start(t)
	clk := newClock()
	src := openRedis(t, rsrv, "src", clk)
	populate(t, src, clk, dataset{ns: "default", leases: 5000, nodes: 10})
	dst := openMemory(t, "memory", clk)
	_, err := migration.Run(context.Background(), src, dst, migration.Options{BatchSize: 1000, Progress: func(p migration.Progress) {
		if p.Phase == migration.PhaseLeases && p.Batches == 2 {
			rsrv.Kill(t)
		}
	}})
	if err == nil || !errors.Is(err, persistence.ErrUnavailable) || !strings.Contains(err.Error(), `source provider "redis" (Redis)`) {
		t.Fatalf("migration from a killed source: %v; want ErrUnavailable naming the source", err)
	}
	if all, _ := countRecords(t, dst); all != 2000 {
		t.Fatalf("target holds %d records, want the 2 completed batches", all)
	}
}
