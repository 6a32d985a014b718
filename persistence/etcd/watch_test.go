package etcd_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/orbit-go/orbit/internal/testbackend/etcdtest"
	"github.com/orbit-go/orbit/persistence/driver"
)

type seen struct {
	kind driver.EventKind
	key  string
	rev  uint64
}

// collect reads events from ch until one at revision last or later has
// arrived (or the channel closes, or a minute passes).
func collect(t *testing.T, ch <-chan driver.Event, last uint64) []seen {
	t.Helper()
	var out []seen
	timeout := time.After(time.Minute)
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatalf("watch closed after %d events", len(out))
			}
			out = append(out, seen{ev.Kind, ev.Entry.Key, ev.Entry.Version.Num()})
			if ev.Entry.Version.Num() >= last {
				return out
			}
		case <-timeout:
			t.Fatalf("only %d events within a minute (last revision seen %v, want %d)", len(out), out[len(out)-1:], last)
		}
	}
}

// TestWatchResumesAfterRestart cuts the watcher's connection by stopping
// and restarting the (single-member) server while a writer keeps writing:
// the watcher sees exactly the changes a fresh watch of the same history
// sees, in the same order, with no revision lost or repeated.
func TestWatchResumesAfterRestart(t *testing.T) {
	srv := etcdtest.Start(t)
	o := testOptions(srv)
	o.RequestTimeout = 2 * time.Second
	s := openStore(t, o, "resume")
	ctx := context.Background()
	ch, err := s.Watch(ctx, "w/")
	if err != nil {
		t.Fatal(err)
	}
	first, err := s.Put(ctx, "w/start", []byte("0"), driver.Unconditional())
	if err != nil {
		t.Fatal(err)
	}

	const writes = 300
	var mu sync.Mutex
	var last driver.Version
	failures := 0 // writes that met the outage
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < writes; {
			key := fmt.Sprintf("w/k%02d", i%40)
			var v driver.Version
			var err error
			if i%7 == 6 {
				err = s.Delete(ctx, key, driver.Unconditional())
			} else {
				v, err = s.Put(ctx, key, []byte(fmt.Sprint(i)), driver.Unconditional())
			}
			if err != nil {
				mu.Lock()
				failures++
				mu.Unlock()
				time.Sleep(50 * time.Millisecond) // the server is down: try again
				continue
			}
			if !v.IsZero() {
				mu.Lock()
				last = v
				mu.Unlock()
			}
			i++
			time.Sleep(10 * time.Millisecond) // keep writing across the outage
		}
	}()
	time.Sleep(300 * time.Millisecond)
	srv.Stop(t, 0)
	time.Sleep(time.Second)
	srv.Restart(t, 0, true)
	<-done
	var end driver.Version
	for tries := 0; end.IsZero(); tries++ {
		if end, err = s.Put(ctx, "w/end", []byte("end"), driver.Unconditional()); err != nil && tries == 20 {
			t.Fatal(err)
		}
	}
	got := collect(t, ch, end.Num())

	// The reference: a new watch of the same history on a new connection.
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ref := srv.Client(t).Watch(rctx, "resume/w/", clientv3.WithPrefix(), clientv3.WithRev(int64(first.Num())))
	var want []seen
	for resp := range ref {
		for _, ev := range resp.Events {
			kind := driver.EventPut
			if ev.Type == mvccpb.DELETE {
				kind = driver.EventDelete
			}
			want = append(want, seen{kind, string(ev.Kv.Key[len("resume/"):]), uint64(ev.Kv.ModRevision)})
		}
		if n := len(want); n > 0 && want[n-1].rev >= end.Num() {
			break
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("watch across a restart saw %d events, a fresh watch of the history %d:\ngot  %v\nwant %v", len(got), len(want), got, want)
	}
	for i := 1; i < len(got); i++ {
		if got[i].rev < got[i-1].rev {
			t.Fatalf("revisions out of order at %d: %d after %d", i, got[i].rev, got[i-1].rev)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	t.Logf("%d events across the restart, revisions %d..%d (last writer revision %s; %d writes failed during the outage)",
		len(got), got[0].rev, got[len(got)-1].rev, last, failures)
	if failures == 0 {
		t.Fatal("the writer never met the outage: the test did not cut the watch mid-stream")
	}
}
