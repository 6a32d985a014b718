package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orbit-go/orbit/internal/testbackend/redistest"
	"github.com/orbit-go/orbit/persistence"
	"github.com/orbit-go/orbit/persistence/config"
	"github.com/orbit-go/orbit/persistence/migration"
)

// migrateFixture is a configuration with a memory provider (disk backup in
// a temporary folder) holding n leases and 10 nodes, and a Redis provider.
func migrateFixture(t *testing.T, n int) (cfgPath string, srv *redistest.Server) {
	t.Helper()
	srv = redistest.Start(t)
	dir := t.TempDir()
	backup := filepath.Join(dir, "backup.orbit")
	cfgPath = filepath.Join(dir, "orbit.toml")
	writeFile(t, cfgPath, fmt.Sprintf(`
[defaults]
addressable = "mem"
cluster = "mem"

[providers.mem]
type = "Memory"
disk_backup = { path = %q }

[providers.redis]
type = "Redis"
url = %q
prefix = "cli"
request_timeout = 30
`, backup, srv.URL()))
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	p, err := persistence.Open(ctx, "mem", cfg.Providers["mem"])
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for i := 0; i < 10; i++ {
		if err := p.Nodes().Store(ctx, persistence.NodeInfo{ID: persistence.NodeID{Namespace: "default", Key: fmt.Sprint("n", i)},
			URL: "http://n:1", Status: persistence.NodeActive, Lease: persistence.NodeLease{ExpiresAt: now.Add(time.Hour), ChallengeToken: "t"}}); err != nil {
			t.Fatal(err)
		}
	}
	ls := make([]persistence.AddressableLease, n)
	for i := range ls {
		ls[i] = persistence.AddressableLease{Reference: persistence.AddressableReference{Namespace: "default", Type: "a", Key: persistence.Int64Key(int64(i))},
			Node: persistence.NodeID{Namespace: "default", Key: fmt.Sprint("n", i%10)}, CreatedAt: now, RenewAt: now.Add(time.Minute),
			ExpiresAt: now.Add(time.Hour), Epoch: uint64(100 + i)}
	}
	if err := p.Addressables().StoreBulk(ctx, ls); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(ctx); err != nil { // writes the backup
		t.Fatal(err)
	}
	return cfgPath, srv
}

func TestMigrateCommand(t *testing.T) {
	cfgPath, srv := migrateFixture(t, 3000)
	checkpoint := filepath.Join(filepath.Dir(cfgPath), ".orbit-migrate-mem-redis.json")

	// A dry run counts and writes nothing.
	code, out, errOut := runCLI(t, "migrate", "--config", cfgPath, "--from", "mem", "--to", "redis", "--dry-run", "--validate")
	if code != 0 || !strings.Contains(out, "3000 to migrate") || !strings.Contains(out, "10 to migrate") || !strings.Contains(out, "nothing was written") {
		t.Fatalf("dry run: exit %d\n%s%s", code, out, errOut)
	}
	if n := srv.Do(t, "DBSIZE"); n != "0" {
		t.Fatalf("dry run wrote %s keys", n)
	}

	// An interrupted migration (as by Ctrl-C) leaves its checkpoint next to
	// the configuration; the command resumes from it.
	cfg, err := loadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	src, err := persistence.Open(ctx, "mem", cfg.Providers["mem"], persistence.WithCheckOnly())
	if err != nil {
		t.Fatal(err)
	}
	dst, err := persistence.Open(ctx, "redis", cfg.Providers["redis"])
	if err != nil {
		t.Fatal(err)
	}
	_, err = migration.Run(ctx, src, dst, migration.Options{BatchSize: 500, Checkpoint: migration.FileCheckpoint{Path: checkpoint},
		Progress: func(p migration.Progress) {
			if p.Batches == 2 {
				cancel()
			}
		}})
	_ = src.Close(context.Background())
	_ = dst.Close(context.Background())
	if err == nil {
		t.Fatal("the migration was not interrupted")
	}

	code, out, errOut = runCLI(t, "migrate", "--config", cfgPath, "--from", "mem", "--to", "redis", "--validate", "--batch-size", "500", "--log-interval", "0")
	if code != 0 || !strings.Contains(errOut, "resuming from checkpoint") || !strings.Contains(out, "3000 migrated, 0 skipped, 0 failed") ||
		!strings.Contains(out, "validation: passed (3000 leases and 10 nodes compared)") || !strings.Contains(out, "status:     complete") {
		t.Fatalf("migrate: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "leases: 3000/3000 (100.0%)") || !strings.Contains(errOut, "/s") {
		t.Fatalf("no progress lines on stderr:\n%s", errOut)
	}
	if _, err := os.Stat(checkpoint); !os.IsNotExist(err) {
		t.Fatalf("checkpoint left after a complete migration: %v", err)
	}
	t.Logf("stdout:\n%s\nstderr:\n%s", out, errOut)
}

func TestMigrateCommandErrors(t *testing.T) {
	cfgPath, srv := migrateFixture(t, 200)
	code, _, errOut := runCLI(t, "migrate", "--config", cfgPath, "--from", "mem")
	if code != 2 || !strings.Contains(errOut, "--to") {
		t.Fatalf("missing --to: exit %d, %q (want 2: a usage error)", code, errOut)
	}
	code, _, errOut = runCLI(t, "migrate", "--config", cfgPath, "--from", "mem", "--to", "nope")
	if code != 1 || !strings.Contains(errOut, `no provider named "nope"`) || !strings.Contains(errOut, "mem, redis") {
		t.Fatalf("unknown provider: exit %d, %q", code, errOut)
	}
	// An unreachable target, with a password in its URL: the error names
	// the target and hides the password.
	writeFile(t, cfgPath+".bad.toml", fmt.Sprintf(`
[defaults]
addressable = "mem"
cluster = "mem"

[providers.mem]
type = "Memory"
disk_backup = { path = %q }

[providers.down]
type = "Redis"
url = "redis://:Very-Secret-77@127.0.0.1:1"
dial_timeout = 1
retry_count = 0
`, filepath.Join(filepath.Dir(cfgPath), "backup.orbit")))
	code, out, errOut := runCLI(t, "migrate", "--config", cfgPath+".bad.toml", "--from", "mem", "--to", "down")
	if code != 1 || !strings.Contains(errOut, `"down"`) || !strings.Contains(errOut, "127.0.0.1:1") || strings.Contains(out+errOut, "Very-Secret-77") {
		t.Fatalf("unreachable target: exit %d\n%s%s", code, out, errOut)
	}
	// The target is killed while migrating: exit 1, naming it.
	srv.Kill(t)
	code, out, errOut = runCLI(t, "migrate", "--config", cfgPath, "--from", "mem", "--to", "redis")
	if code != 1 || !strings.Contains(errOut, `"redis"`) {
		t.Fatalf("dead target: exit %d\n%s%s", code, out, errOut)
	}
	code, out, _ = runCLI(t, "migrate", "--help")
	if code != 0 || !strings.Contains(out, "Exit codes:") || !strings.Contains(out, "--checkpoint") {
		t.Fatalf("help: exit %d\n%s", code, out)
	}
}
