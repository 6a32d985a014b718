package snapshot

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

const (
	envCrashPath  = "ORBIT_SNAPSHOT_CRASH_PATH"
	envCrashStart = "ORBIT_SNAPSHOT_CRASH_START"
)

// Generation n of the crash test's data set: entries 0..genSize(n)-1, each
// with a value derived from n and its index, version n, compressed by
// genCompression(n). The set grows with n.
func genSize(n int) int { return 50 + 40*min(n, 500) + n%13 }

func genCompression(n int) Compression { return allCompressions[n%len(allCompressions)] }

func genKey(i int) string { return fmt.Sprintf("a/default/Greeter/suser-%09d", i) }

func genValue(n, i int) []byte {
	v := leaseValue(i, uint64(n))
	return fmt.Appendf(v, "|gen=%d|i=%d|", n, i)
}

// TestHelperWriter is the child of TestCrashKill: it writes generation after
// generation to one path until it is killed.
func TestHelperWriter(t *testing.T) {
	path := os.Getenv(envCrashPath)
	if path == "" {
		t.Skip("only run as the child of TestCrashKill")
	}
	start, err := strconv.Atoi(os.Getenv(envCrashStart))
	if err != nil {
		fmt.Fprintln(os.Stderr, "bad start generation:", err)
		os.Exit(3)
	}
	if err := CleanTemp(path); err != nil { // as the provider does on startup
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	for n := start; ; n++ {
		seq := countSeq(genSize(n), func(i int) Entry {
			return Entry{Key: genKey(i), Value: genValue(n, i), Version: uint64(n)}
		})
		if _, err := Write(path, genCompression(n), seq); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
	}
}

// checkGeneration reads path and verifies that it holds one whole
// generation; it returns that generation.
func checkGeneration(t *testing.T, path string) int {
	t.Helper()
	gen, i := -1, 0
	st, err := Read(path, func(e Entry) error {
		if gen < 0 {
			gen = int(e.Version)
		}
		if e.Version != uint64(gen) || e.Key != genKey(i) || !bytes.Equal(e.Value, genValue(gen, i)) {
			return fmt.Errorf("entry %d (%q, v%d) does not belong to generation %d", i, e.Key, e.Version, gen)
		}
		i++
		return nil
	})
	if err != nil {
		t.Fatalf("after kill: %v", err)
	}
	if gen < 0 || st.Entries != genSize(gen) || st.Compression != genCompression(gen) {
		t.Fatalf("after kill: generation %d with %d entries in %s, want %d in %s",
			gen, st.Entries, st.Compression, genSize(gen), genCompression(gen))
	}
	return gen
}

// TestCrashKill kills a writing child process with SIGKILL at random moments
// and checks that the snapshot is always whole: absent before the first
// completed write, then some complete generation, never older than the last
// one seen.
func TestCrashKill(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	path := filepath.Join(t.TempDir(), "snap")
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 99))
	const minKills, maxKills = 30, 60
	budget := 20 * time.Second
	began := time.Now()
	last, kills, withTemp := 0, 0, 0
	for kills < maxKills && (kills < minKills || time.Since(began) < budget/2) {
		if time.Since(began) > budget {
			t.Fatalf("only %d kills in %v", kills, budget)
		}
		var stderr bytes.Buffer
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperWriter$", "-test.count=1", "-test.timeout=60s")
		cmd.Env = append(os.Environ(), envCrashPath+"="+path, envCrashStart+"="+strconv.Itoa(last+1))
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill during start-up now and then, mostly while writing.
		wait := time.Duration(r.IntN(300)) * time.Millisecond
		if last == 0 && kills > 3 {
			wait += 200 * time.Millisecond // let a first write complete eventually
		}
		time.Sleep(wait)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		err := cmd.Wait()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("child did not die by SIGKILL: %v\n%s", err, stderr.Bytes())
		}
		kills++

		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			if last != 0 {
				t.Fatalf("kill %d: snapshot vanished after generation %d was seen", kills, last)
			}
		} else {
			gen := checkGeneration(t, path)
			if gen < last {
				t.Fatalf("kill %d: generation %d is older than %d, seen before", kills, gen, last)
			}
			last = gen
		}
		if len(tempFiles(t, path)) > 0 {
			withTemp++
			if kills%2 == 0 { // half the time, leave them to the next child
				if err := CleanTemp(path); err != nil {
					t.Fatal(err)
				}
				if tmp := tempFiles(t, path); len(tmp) != 0 {
					t.Fatalf("CleanTemp left %v", tmp)
				}
			}
		}
	}
	if last == 0 {
		t.Fatalf("no write completed in %d kills", kills)
	}
	t.Logf("%d kills in %v, last generation %d (%d entries), %d kills left a temporary file",
		kills, time.Since(began).Round(time.Millisecond), last, genSize(last), withTemp)
}
