package memory_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/orbit-go/orbit/clock"
	"github.com/orbit-go/orbit/persistence"
	"github.com/orbit-go/orbit/persistence/config"
	"github.com/orbit-go/orbit/persistence/driver"
	"github.com/orbit-go/orbit/persistence/memory"
)

var ctx = context.Background()

var t0 = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

func ref(i int) persistence.AddressableReference {
	return persistence.AddressableReference{Namespace: "default", Type: "Greeter", Key: persistence.Int64Key(int64(i))}
}

func openProvider(t *testing.T, cfg config.MemoryConfig, c clock.Clock) persistence.Provider {
	t.Helper()
	p, err := persistence.Open(ctx, "memory", &cfg, persistence.WithClock(c))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestBackupRestoreEveryCompression(t *testing.T) {
	for _, comp := range []config.Compression{config.CompressionNone, config.CompressionGzip, config.CompressionLz4, config.CompressionZstd} {
		t.Run(string(comp), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "sub", "backup.orbit")
			cfg := config.MemoryConfig{DiskBackup: &config.DiskBackupConfig{Path: path, SyncInterval: 3600, Compression: comp}}
			c := clock.NewManual(t0)
			p := openProvider(t, cfg, c)
			var placed []persistence.AddressableLease
			for i := 0; i < 300; i++ {
				l, err := p.Addressables().Place(ctx, ref(i), persistence.NodeID{Namespace: "default", Key: fmt.Sprint("n", i%4)}, time.Minute)
				if err != nil {
					t.Fatal(err)
				}
				placed = append(placed, l)
			}
			node := persistence.NodeInfo{ID: persistence.NodeID{Namespace: "default", Key: "n1"}, URL: "grpc://x", Status: persistence.NodeActive,
				Lease: persistence.NodeLease{ExpiresAt: t0.Add(time.Minute), ChallengeToken: "tok"}}
			if err := p.Nodes().Store(ctx, node); err != nil {
				t.Fatal(err)
			}
			if err := p.Close(ctx); err != nil { // takes the final backup
				t.Fatal(err)
			}
			p2 := openProvider(t, cfg, c)
			defer p2.Close(ctx)
			for _, l := range placed {
				got, err := p2.Addressables().Get(ctx, l.Reference)
				if err != nil || !got.Equal(l) {
					t.Fatalf("restored lease %s = %+v, %v; want %+v", l.Reference, got, err, l)
				}
			}
			if got, err := p2.Nodes().Get(ctx, node.ID); err != nil || !got.Lease.TokenMatches("tok") {
				t.Fatalf("restored node = %+v, %v", got, err)
			}
			byNode, err := p2.Addressables().ListByNode(ctx, persistence.NodeID{Namespace: "default", Key: "n1"}, persistence.PageRequest{})
			if err != nil || len(byNode.Leases) != 75 {
				t.Fatalf("restored index lists %d leases, %v; want 75", len(byNode.Leases), err)
			}
			// Versions continue after the restored ones: a stale CAS still fails.
			l := placed[0]
			if _, err := p2.Addressables().Renew(ctx, l.Reference, l.Node, l.Epoch, time.Minute); err != nil {
				t.Fatal(err)
			}
			c.Advance(2 * time.Minute)
			l2, err := p2.Addressables().Place(ctx, l.Reference, persistence.NodeID{Namespace: "default", Key: "other"}, time.Minute)
			if err != nil || l2.Epoch <= l.Epoch {
				t.Fatalf("placement after restore = %+v, %v; epoch must exceed %d", l2, err, l.Epoch)
			}
		})
	}
}

func TestPeriodicBackup(t *testing.T) {
	path := filepath.Join(t.TempDir(), "backup.orbit")
	s, err := memory.Open(ctx, memory.Options{Backup: &memory.BackupOptions{Path: path, Interval: 20 * time.Millisecond, Compression: "Lz4"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	if _, err := s.Put(ctx, "a/k", []byte("v"), driver.Unconditional()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(path); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no periodic backup was written within 20s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestCorruptBackupIsAStartupError(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "backup.orbit")
	s, err := memory.Open(ctx, memory.Options{Backup: &memory.BackupOptions{Path: path, Compression: "Zstd"}})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		if _, err := s.Put(ctx, fmt.Sprintf("a/%03d", i), []byte("value"), driver.Unconditional()); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, damage := range []struct {
		name string
		data []byte
	}{
		{"truncated", data[:len(data)/2]},
		{"flipped byte", flip(data, len(data)-10)},
		{"garbage", []byte("not a backup at all")},
	} {
		if err := os.WriteFile(path, damage.data, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := memory.Open(ctx, memory.Options{Backup: &memory.BackupOptions{Path: path}})
		if !errors.Is(err, driver.ErrCorrupt) || !containsAll(err.Error(), path) {
			t.Errorf("%s backup: Open = %v, want ErrCorrupt naming %s", damage.name, err, path)
		}
	}
}

func flip(b []byte, i int) []byte {
	c := append([]byte(nil), b...)
	c[i] ^= 0xff
	return c
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		found := false
		for i := 0; i+len(sub) <= len(s); i++ {
			if s[i:i+len(sub)] == sub {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func TestMaxEntries(t *testing.T) {
	c := clock.NewManual(t0)
	p := openProvider(t, config.MemoryConfig{MaxEntries: 10}, c)
	defer p.Close(ctx)
	node := persistence.NodeID{Namespace: "default", Key: "n1"}
	for i := 0; i < 8; i++ {
		if _, err := p.Addressables().Place(ctx, ref(i), node, time.Minute); err != nil {
			t.Fatalf("lease %d (index entries do not count): %v", i, err)
		}
	}
	if h := p.HealthCheck(ctx); h.Status != persistence.Healthy {
		t.Fatalf("health at 8/10 = %s %s", h.Status, h.Reason)
	}
	for i := 8; i < 10; i++ {
		if _, err := p.Addressables().Place(ctx, ref(i), node, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if h := p.HealthCheck(ctx); h.Status != persistence.Degraded {
		t.Fatalf("health at 10/10 = %s, want Degraded", h.Status)
	}
	_, err := p.Addressables().Place(ctx, ref(10), node, time.Minute)
	if !errors.Is(err, persistence.ErrCapacity) || !containsAll(err.Error(), "max_entries=10") {
		t.Fatalf("placement beyond max_entries = %v, want ErrCapacity naming max_entries", err)
	}
	// Renewing an existing lease still works at the limit, and cleanup frees room.
	l, _ := p.Addressables().Get(ctx, ref(0))
	if _, err := p.Addressables().Renew(ctx, ref(0), node, l.Epoch, time.Minute); err != nil {
		t.Fatalf("renewal at the limit: %v", err)
	}
	c.Advance(time.Hour)
	if n, err := p.Addressables().CleanupExpired(ctx); err != nil || n != 10 {
		t.Fatalf("cleanup = %d, %v", n, err)
	}
	if _, err := p.Addressables().Place(ctx, ref(10), node, time.Minute); err != nil {
		t.Fatalf("placement after cleanup freed room: %v", err)
	}
}

// TestHelperBackupWriter is the child process of TestKillDuringBackup.
func TestHelperBackupWriter(t *testing.T) {
	path := os.Getenv("ORBIT_TEST_BACKUP_CHILD")
	if path == "" {
		t.Skip("helper process for TestKillDuringBackup")
	}
	s, err := memory.Open(ctx, memory.Options{Backup: &memory.BackupOptions{Path: path, Compression: "Zstd"}})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child open:", err)
		os.Exit(3)
	}
	p := persistence.NewProvider("memory", "Memory", s)
	node := persistence.NodeID{Namespace: "default", Key: "child"}
	for i := 0; ; i++ {
		for j := 0; j < 500; j++ {
			if _, err := p.Addressables().Place(ctx, ref(i*500+j), node, time.Hour); err != nil {
				fmt.Fprintln(os.Stderr, "child place:", err)
				os.Exit(4)
			}
		}
		if err := s.Backup(); err != nil {
			fmt.Fprintln(os.Stderr, "child backup:", err)
			os.Exit(5)
		}
		fmt.Println("backup", i)
	}
}

// TestKillDuringBackup kills a real child process with SIGKILL at random
// moments while it writes backups; the backup left behind always restores.
func TestKillDuringBackup(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns child processes")
	}
	path := filepath.Join(t.TempDir(), "backup.orbit")
	restored := 0
	for round := 0; round < 20; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperBackupWriter$")
		cmd.Env = append(os.Environ(), "ORBIT_TEST_BACKUP_CHILD="+path)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(50+rand.IntN(250)) * time.Millisecond)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			continue // killed before its first backup
		}
		s, err := memory.Open(ctx, memory.Options{Backup: &memory.BackupOptions{Path: path}})
		if err != nil {
			t.Fatalf("round %d: backup left by a killed process does not restore: %v", round, err)
		}
		if s.Len()%500 != 0 { // whole generations of 500 leases (labelled records, no index entries)
			t.Fatalf("round %d: restored %d entries, not whole generations", round, s.Len())
		}
		restored++
		_ = s.Close(ctx)
		matches, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".*tmp*"))
		if len(matches) != 0 {
			t.Fatalf("round %d: temp files left after open: %v", round, matches)
		}
	}
	if restored == 0 {
		t.Fatal("no round produced a backup to restore: the test did not test anything")
	}
	t.Log("restored after", strconv.Itoa(restored), "kills")
}

// TestBackupKeepsExpiryFiling restores entries filed by ExpireAt into the
// same buckets: what was due before the restart is due after it, and what
// carried no ExpireAt is still unfiled.
func TestBackupKeepsExpiryFiling(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "b.snap")
	opts := memory.Options{Backup: &memory.BackupOptions{Path: path, Compression: "Zstd"}}
	s, err := memory.Open(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Unix(1_800_000_005, 0)
	for i, exp := range []time.Time{at, at.Add(time.Hour), {}} {
		if _, err := s.PutWithOptions(ctx, fmt.Sprintf("a/%d", i), []byte("v"), driver.Unconditional(), driver.PutOptions{ExpireAt: exp}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	s, err = memory.Open(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	es, err := s.ListExpiring(ctx, "a/", at, 0)
	if err != nil || len(es) != 1 || es[0].Key != "a/0" {
		t.Fatalf("ListExpiring after restore = %+v, %v; want a/0 only", es, err)
	}
	es, err = s.ListExpiring(ctx, "a/", at.Add(2*time.Hour), 0)
	if err != nil || len(es) != 2 {
		t.Fatalf("ListExpiring(+2h) after restore = %d entries, %v; want a/0 and a/1 (a/2 has no ExpireAt)", len(es), err)
	}
}
