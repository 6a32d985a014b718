package flash_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/orbit-go/orbit/persistence"
	"github.com/orbit-go/orbit/persistence/driver"
	"github.com/orbit-go/orbit/persistence/flash"
)

var bg = context.Background()

func leaseRef(s string) persistence.AddressableReference {
	return persistence.AddressableReference{Namespace: "default", Type: "Greeter", Key: persistence.StringKey(s)}
}

var crashNode = persistence.NodeID{Namespace: "default", Key: "child"}

// TestHelperCrashWriter is the child process of TestCrashKill: it opens
// the store and writes leases from 4 goroutines until it is killed,
// printing each acknowledged write (one write(2) per line, so a line is
// either in the pipe whole or not at all).
func TestHelperCrashWriter(t *testing.T) {
	spec := os.Getenv("ORBIT_FLASH_CRASH_CHILD")
	if spec == "" {
		t.Skip("helper process for TestCrashKill")
	}
	round := os.Getenv("ORBIT_FLASH_CRASH_ROUND")
	s, err := flash.Open(bg, flash.Options{Paths: strings.Split(spec, ","), Sync: true, Compression: "Lz4"})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child open:", err)
		os.Exit(3)
	}
	p := persistence.NewProvider("flash", "Flash", s)
	dir := p.Addressables()
	fmt.Println("ready")
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			type heldLease struct {
				key string
				l   persistence.AddressableLease
			}
			var held []heldLease
			for i := 0; ; i++ {
				key := fmt.Sprintf("r%s-w%d-%d", round, w, i)
				l, err := dir.Place(bg, leaseRef(key), crashNode, time.Hour)
				if err != nil {
					fmt.Fprintln(os.Stderr, "child place:", err)
					os.Exit(4)
				}
				fmt.Printf("P %s %d %d\n", key, l.Epoch, l.ExpiresAt.UnixNano())
				held = append(held, heldLease{key, l})
				if i%3 == 2 { // renew an earlier lease
					h := held[rand.IntN(len(held))]
					l, err := dir.Renew(bg, h.l.Reference, crashNode, h.l.Epoch, 2*time.Hour)
					if err != nil {
						fmt.Fprintln(os.Stderr, "child renew:", err)
						os.Exit(5)
					}
					fmt.Printf("R %s %d %d\n", h.key, l.Epoch, l.ExpiresAt.UnixNano())
				}
			}
		}()
	}
	wg.Wait()
}

type acked struct {
	epoch   uint64
	expires int64 // the latest acknowledged expiry
}

// TestCrashKill kills a child process that writes leases with SIGKILL at
// random moments; after each kill the store opens cleanly and holds every
// write the child saw acknowledged. 25 kills with one path and 25 with
// three paths (majority quorum; after each kill the two other paths are
// verified against the one chosen as the source while the next child
// runs).
func TestCrashKill(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns child processes")
	}
	for _, n := range []int{1, 3} {
		t.Run(fmt.Sprintf("paths=%d", n), func(t *testing.T) {
			paths := dirs(t, n)
			want := map[string]acked{}
			kills, total, productive := 0, 0, 0
			for round := 0; round < 25; round++ {
				out := runAndKill(t, paths, round)
				kills++
				if strings.Contains(out, "\nP ") || strings.HasPrefix(out, "P ") {
					productive++
				}
				for _, line := range strings.Split(out, "\n") {
					f := strings.Fields(line)
					if len(f) != 4 || (f[0] != "P" && f[0] != "R") {
						continue
					}
					epoch, err1 := strconv.ParseUint(f[2], 10, 64)
					exp, err2 := strconv.ParseInt(f[3], 10, 64)
					if err1 != nil || err2 != nil {
						t.Fatalf("round %d: bad line %q", round, line)
					}
					a := want[f[1]]
					a.epoch = epoch
					a.expires = max(a.expires, exp)
					want[f[1]] = a
					total++
				}
				verify(t, paths, want, round)
			}
			if total == 0 {
				t.Fatal("no child acknowledged any write: the test tested nothing")
			}
			t.Logf("%d kills (%d after the child had acknowledged writes), %d acknowledged writes, %d leases checked after every restart",
				kills, productive, total, len(want))
		})
	}
}

// runAndKill starts the child and kills it: in one round of three at a
// random moment after the start (often while it opens and recovers the
// store), otherwise at a random moment after it has opened the store and
// started writing.
func runAndKill(t *testing.T, paths []string, round int) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperCrashWriter$")
	cmd.Env = append(os.Environ(), "ORBIT_FLASH_CRASH_CHILD="+strings.Join(paths, ","), "ORBIT_FLASH_CRASH_ROUND="+strconv.Itoa(round))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	ready := make(chan struct{})
	eof := make(chan struct{})
	go func() {
		defer close(eof)
		sc := bufio.NewScanner(pipe)
		once := sync.Once{}
		for sc.Scan() {
			out.WriteString(sc.Text())
			out.WriteByte('\n')
			once.Do(func() { close(ready) })
		}
	}()
	if round%3 == 0 {
		time.Sleep(time.Duration(rand.IntN(300)) * time.Millisecond)
	} else {
		select {
		case <-ready:
		case <-eof:
		case <-time.After(20 * time.Second):
			t.Fatalf("round %d: the child did not open the store within 20s", round)
		}
		time.Sleep(time.Duration(rand.IntN(200)) * time.Millisecond)
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-eof
	err = cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
		t.Fatalf("round %d: the child was not killed (%v): %s", round, err, stderr.String())
	}
	return out.String()
}

func verify(t *testing.T, paths []string, want map[string]acked, round int) {
	t.Helper()
	s, err := flash.Open(bg, flash.Options{Paths: paths, Sync: true, Compression: "Lz4"})
	if err != nil {
		t.Fatalf("round %d: the store left by a killed process does not open: %v", round, err)
	}
	defer s.Close(bg)
	if h := s.HealthCheck(bg); h.Status == driver.Unhealthy {
		t.Fatalf("round %d: health after restart = %s %s", round, h.Status, h.Reason)
	}
	dir := persistence.NewProvider("flash", "Flash", s).Addressables()
	got := map[string]persistence.AddressableLease{}
	for l, err := range dir.All(bg, "") {
		if err != nil {
			t.Fatalf("round %d: listing after restart: %v", round, err)
		}
		got[l.Reference.Key.String()] = l
	}
	for key, a := range want {
		l, ok := got[leaseRef(key).Key.String()]
		if !ok {
			t.Fatalf("round %d: acknowledged lease %s is missing after restart", round, key)
		}
		if l.Epoch != a.epoch || l.ExpiresAt.UnixNano() < a.expires {
			t.Fatalf("round %d: lease %s = epoch %d expires %s; acknowledged epoch %d expires %s", round, key,
				l.Epoch, l.ExpiresAt, a.epoch, time.Unix(0, a.expires))
		}
	}
	// The node index (labels, written in the same engine batch) agrees.
	indexed, token := 0, ""
	for {
		page, err := dir.ListByNode(bg, crashNode, persistence.PageRequest{PageToken: token, Limit: 1000})
		if err != nil {
			t.Fatalf("round %d: ListByNode after restart: %v", round, err)
		}
		indexed += len(page.Leases)
		if token = page.NextPageToken; token == "" {
			break
		}
	}
	if indexed != len(got) {
		t.Fatalf("round %d: the node index lists %d leases, the records %d", round, indexed, len(got))
	}
}
