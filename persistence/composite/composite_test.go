package composite_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orbit-go/orbit/clock"
	"github.com/orbit-go/orbit/persistence"
	"github.com/orbit-go/orbit/persistence/composite"
	"github.com/orbit-go/orbit/persistence/driver"
	"github.com/orbit-go/orbit/persistence/drivertest"
	"github.com/orbit-go/orbit/persistence/memory"
)

// faulty is a fault-injecting decorator over a real store: while broken,
// every call fails with ErrUnavailable, as a backend that went away.
type faulty struct {
	driver.Store
	broken atomic.Bool
}

func (f *faulty) err(op, key string) error {
	return fmt.Errorf("injected fault: %s %q: %w", op, key, driver.ErrUnavailable)
}

func (f *faulty) Get(ctx context.Context, key string) (driver.Entry, error) {
	if f.broken.Load() {
		return driver.Entry{}, f.err("get", key)
	}
	return f.Store.Get(ctx, key)
}

func (f *faulty) Put(ctx context.Context, key string, v []byte, c driver.Condition) (driver.Version, error) {
	if f.broken.Load() {
		return driver.Version{}, f.err("put", key)
	}
	return f.Store.Put(ctx, key, v, c)
}

func (f *faulty) Delete(ctx context.Context, key string, c driver.Condition) error {
	if f.broken.Load() {
		return f.err("delete", key)
	}
	return f.Store.Delete(ctx, key, c)
}

func (f *faulty) List(ctx context.Context, prefix string, o driver.ListOptions) (driver.ListPage, error) {
	if f.broken.Load() {
		return driver.ListPage{}, f.err("list", prefix)
	}
	return f.Store.List(ctx, prefix, o)
}

// pair is a composite over two in-memory stores with injectable faults,
// driven by CheckNow (no background loop).
type pair struct {
	t               *testing.T
	primary, backup *faulty
	s               *composite.Store
	clock           *clock.Manual
	p               persistence.Provider
}

func newPair(t *testing.T, mutate func(*composite.Options)) *pair {
	t.Helper()
	pr := &pair{t: t, primary: &faulty{Store: memory.New(memory.Options{})}, backup: &faulty{Store: memory.New(memory.Options{})},
		clock: clock.NewManual(time.Now().UTC())}
	pr.open(mutate)
	return pr
}

// open (re)opens the composite over the pair's stores, as a server restart.
func (pr *pair) open(mutate func(*composite.Options)) {
	t := pr.t
	t.Helper()
	o := composite.Options{Primary: noClose{pr.primary}, Backup: noClose{pr.backup}, HealthCheckInterval: -1,
		FailoverThreshold: 3, Clock: pr.clock}
	if mutate != nil {
		mutate(&o)
	}
	s, err := composite.Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	s.WaitBackground()
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	pr.s = s
	pr.p = persistence.NewProvider("ha", "Composite", s, persistence.WithClock(pr.clock))
}

// noClose keeps the shared stores open when a composite over them closes.
type noClose struct{ driver.Store }

func (noClose) Close(context.Context) error { return nil }

func (pr *pair) rounds(n int) {
	for i := 0; i < n; i++ {
		pr.s.CheckNow(context.Background())
		pr.s.WaitBackground()
	}
}

func ref(i int) persistence.AddressableReference {
	return persistence.AddressableReference{Namespace: "ns", Type: "actor", Key: persistence.StringKey(fmt.Sprintf("k%05d", i))}
}

func node(name string) persistence.NodeID { return persistence.NodeID{Namespace: "ns", Key: name} }

// leaseOn reads ref's lease from one raw side.
func leaseOn(t *testing.T, st driver.Store, c clock.Clock, r persistence.AddressableReference) (persistence.AddressableLease, error) {
	t.Helper()
	return persistence.NewProvider("side", "raw", noClose{st}, persistence.WithClock(c)).Addressables().Get(context.Background(), r)
}

// The conformance suite on a composite of two in-memory stores.
func TestConformanceMemoryPair(t *testing.T) {
	drivertest.RunConformanceTests(t, drivertest.Harness{
		MakeStore: func(t *testing.T) driver.Store {
			return newPair(t, nil).s
		},
		Capabilities: []driver.Capability{driver.CapHealth},
	})
}

// plainStore hides every optional interface of a store.
type plainStore struct{ driver.Store }

// The conformance suite on a composite that runs on its backup (it failed
// over before), mirroring to the primary. Its health is Degraded by design
// (tested above), so the suite sees the plain store contract only.
func TestConformanceOnBackup(t *testing.T) {
	drivertest.RunConformanceTests(t, drivertest.Harness{
		MakeStore: func(t *testing.T) driver.Store {
			pr := newPair(t, func(o *composite.Options) { o.ManualFailback = true })
			pr.primary.broken.Store(true)
			pr.rounds(3)
			pr.primary.broken.Store(false)
			if pr.s.Active() != composite.Backup {
				t.Fatal("not on the backup")
			}
			return plainStore{pr.s}
		},
		RaceRounds: 20,
		ManyLeases: 2000,
	})
}

func TestSyncMirrorCopiesEveryWrite(t *testing.T) {
	pr := newPair(t, nil)
	ctx := context.Background()
	for i := 0; i < 50; i++ {
		if _, err := pr.p.Addressables().Place(ctx, ref(i), node("a"), time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if err := pr.p.Addressables().Remove(ctx, ref(7)); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		want, errWant := leaseOn(t, pr.primary, pr.clock, ref(i))
		got, errGot := leaseOn(t, pr.backup, pr.clock, ref(i))
		if (errWant == nil) != (errGot == nil) || want != got {
			t.Fatalf("ref %d: primary %v (%v), backup %v (%v)", i, want, errWant, got, errGot)
		}
	}
	if st := pr.s.Status(); st.StandbyBehind || st.Active != composite.Primary {
		t.Fatalf("status %+v", st)
	}
	if h := pr.s.HealthCheck(ctx); h.Status != driver.Healthy {
		t.Fatalf("health %v", h)
	}
}

func TestFailoverAfterThresholdAndFailback(t *testing.T) {
	pr := newPair(t, nil)
	ctx := context.Background()
	addrs := pr.p.Addressables()
	before, err := addrs.Place(ctx, ref(1), node("a"), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pr.primary.broken.Store(true)
	pr.rounds(2)
	if pr.s.Active() != composite.Primary {
		t.Fatal("failed over before failover_threshold failed probes")
	}
	if h := pr.s.HealthCheck(ctx); h.Status != driver.Unhealthy {
		t.Fatalf("health while the active primary fails: %v", h)
	}
	pr.rounds(1)
	if pr.s.Active() != composite.Backup {
		t.Fatal("no failover after failover_threshold failed probes")
	}
	if h := pr.s.HealthCheck(ctx); h.Status != driver.Degraded {
		t.Fatalf("health on the backup: %v", h)
	}
	st, err := composite.ReadState(ctx, pr.backup)
	if err != nil || st.Active != composite.Backup || st.Generation != 1 {
		t.Fatalf("state record %+v, %v", st, err)
	}
	// The lease granted by the primary is served by the backup, and its
	// holder renews it (its cached version is from the other side).
	if got, err := addrs.Get(ctx, ref(1)); err != nil || got != before {
		t.Fatalf("get after failover: %v %v, want %v", got, err, before)
	}
	pr.clock.Advance(time.Minute)
	renewed, err := addrs.Renew(ctx, ref(1), node("a"), before.Epoch, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	// Leases granted during the outage.
	outage := make([]persistence.AddressableLease, 0, 20)
	for i := 100; i < 120; i++ {
		l, err := addrs.Place(ctx, ref(i), node("b"), time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		outage = append(outage, l)
	}
	// The primary comes back (empty, as a restarted server without
	// persistence): after failover_threshold good probes it is synchronised
	// from the backup and becomes active again.
	pr.primary.broken.Store(false)
	if err := pr.primary.Store.Delete(ctx, "a/ns/actor/sk00001", driver.Unconditional()); err != nil {
		t.Fatal(err)
	}
	pr.rounds(2)
	if pr.s.Active() != composite.Backup {
		t.Fatal("failed back before failover_threshold good probes")
	}
	pr.rounds(2)
	if pr.s.Active() != composite.Primary {
		t.Fatalf("no failback: %+v", pr.s.Status())
	}
	for _, l := range append(outage, renewed) {
		got, err := leaseOn(t, pr.primary, pr.clock, l.Reference)
		if err != nil || got != l {
			t.Fatalf("primary after failback: %v %v, want %v", got, err, l)
		}
	}
	// The holder at the old epoch is fenced; the current one renews.
	if _, err := addrs.Renew(ctx, ref(100), node("a"), before.Epoch, time.Hour); !errors.Is(err, persistence.ErrFenced) && !errors.Is(err, persistence.ErrNotFound) {
		t.Fatalf("stale renew: %v", err)
	}
	if _, err := addrs.Renew(ctx, ref(100), node("b"), outage[0].Epoch, time.Hour); err != nil {
		t.Fatal(err)
	}
	if st, _ := composite.ReadState(ctx, pr.backup); st.Active != composite.Primary || st.Generation != 2 {
		t.Fatalf("state record after failback %+v", st)
	}
}

// A standby that missed writes is not promoted: it could grant a lease twice.
func TestNoFailoverToABackupThatIsBehind(t *testing.T) {
	pr := newPair(t, nil)
	ctx := context.Background()
	pr.backup.broken.Store(true)
	pr.rounds(1)
	if _, err := pr.p.Addressables().Place(ctx, ref(1), node("a"), time.Hour); err != nil {
		t.Fatal(err) // the backup is down: the write is still acknowledged
	}
	if !pr.s.Status().StandbyBehind {
		t.Fatal("standby not marked behind")
	}
	if h := pr.s.HealthCheck(ctx); h.Status != driver.Degraded {
		t.Fatalf("health with the standby down: %v", h)
	}
	pr.primary.broken.Store(true)
	pr.backup.broken.Store(false)
	pr.rounds(5)
	if pr.s.Active() != composite.Primary {
		t.Fatal("failed over to a backup that missed a write")
	}
	if _, err := pr.p.Addressables().Place(ctx, ref(1), node("b"), time.Hour); !errors.Is(err, persistence.ErrUnavailable) {
		t.Fatalf("place while nothing can serve: %v", err)
	}
	// The primary returns: the catch-up synchronisation copies the write,
	// and a later outage fails over.
	pr.primary.broken.Store(false)
	pr.rounds(1)
	if pr.s.Status().StandbyBehind {
		t.Fatal("still behind after a synchronisation")
	}
	if _, err := leaseOn(t, pr.backup, pr.clock, ref(1)); err != nil {
		t.Fatal("the catch-up did not copy the lease:", err)
	}
	pr.primary.broken.Store(true)
	pr.rounds(3)
	if pr.s.Active() != composite.Backup {
		t.Fatal("no failover once in sync")
	}
}

func TestManualFailback(t *testing.T) {
	pr := newPair(t, func(o *composite.Options) { o.ManualFailback = true })
	ctx := context.Background()
	pr.primary.broken.Store(true)
	pr.rounds(3)
	pr.primary.broken.Store(false)
	pr.rounds(6)
	if pr.s.Active() != composite.Backup {
		t.Fatal("failed back without a request")
	}
	st, err := composite.RequestFailback(ctx, pr.backup)
	if err != nil || !st.FailbackRequested {
		t.Fatalf("request failback: %+v %v", st, err)
	}
	pr.rounds(2)
	if pr.s.Active() != composite.Primary {
		t.Fatal("no failback after the request")
	}
	if st, _ := composite.ReadState(ctx, pr.backup); st.FailbackRequested || st.Active != composite.Primary {
		t.Fatalf("state after failback %+v", st)
	}
}

// A server that starts while the backup is active starts on the backup,
// and a second server sharing the stores follows the first one's failover.
func TestRestartAndSecondServerFollowTheStateRecord(t *testing.T) {
	pr := newPair(t, func(o *composite.Options) { o.ManualFailback = true })
	ctx := context.Background()
	other := *pr
	other.open(func(o *composite.Options) { o.ManualFailback = true })
	pr.primary.broken.Store(true)
	pr.rounds(3)
	pr.primary.broken.Store(false) // the second server never saw it fail
	if pr.s.Active() != composite.Backup {
		t.Fatal("no failover")
	}
	if other.s.Active() != composite.Primary {
		t.Fatal("second server switched before a health round")
	}
	other.rounds(1)
	if other.s.Active() != composite.Backup {
		t.Fatal("second server did not follow the state record")
	}
	l, err := pr.p.Addressables().Place(ctx, ref(5), node("a"), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	restarted := *pr
	restarted.open(func(o *composite.Options) { o.ManualFailback = true })
	if restarted.s.Active() != composite.Backup {
		t.Fatal("restart did not start on the backup")
	}
	if got, err := restarted.p.Addressables().Get(ctx, ref(5)); err != nil || got != l {
		t.Fatalf("%v %v", got, err)
	}
}

// In Async mode a write reaches the standby only at the next
// synchronisation; a failover before it loses the write (documented).
func TestAsyncMirror(t *testing.T) {
	pr := newPair(t, func(o *composite.Options) { o.Mirror = composite.Async; o.SyncInterval = time.Minute })
	ctx := context.Background()
	if _, err := pr.p.Addressables().Place(ctx, ref(1), node("a"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := leaseOn(t, pr.backup, pr.clock, ref(1)); !errors.Is(err, persistence.ErrNotFound) {
		t.Fatalf("async mirror copied at once: %v", err)
	}
	pr.rounds(1)
	if _, err := leaseOn(t, pr.backup, pr.clock, ref(1)); !errors.Is(err, persistence.ErrNotFound) {
		t.Fatalf("synchronised before sync_interval: %v", err)
	}
	pr.clock.Advance(time.Minute)
	pr.rounds(1)
	if _, err := leaseOn(t, pr.backup, pr.clock, ref(1)); err != nil {
		t.Fatal("not synchronised after sync_interval:", err)
	}
	if _, err := pr.p.Addressables().Place(ctx, ref(2), node("a"), time.Hour); err != nil {
		t.Fatal(err)
	}
	pr.primary.broken.Store(true)
	pr.rounds(3)
	if pr.s.Active() != composite.Backup {
		t.Fatal("async mode did not fail over")
	}
	if _, err := pr.p.Addressables().Get(ctx, ref(2)); !errors.Is(err, persistence.ErrNotFound) {
		t.Fatalf("the write after the last synchronisation survived an async failover: %v", err)
	}
}

// Placements race with failovers and failbacks: no reference ever has two
// holders. The placers run through 20 cycles of eight health rounds (the
// primary broken in three of each), so that placements meet every phase of
// a switch; they keep placing until the cycles are over (they once finished
// all their placements within the first broken rounds, with none accepted).
func TestRacingPlacementsAcrossSwitches(t *testing.T) {
	pr := newPair(t, nil)
	ctx := context.Background()
	const refs, placers, cycles = 200, 4, 20
	var placing sync.WaitGroup
	stop := make(chan struct{})
	winners := make([][]persistence.AddressableLease, placers)
	for p := 0; p < placers; p++ {
		placing.Add(1)
		go func() {
			defer placing.Done()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				l, err := pr.p.Addressables().Place(ctx, ref(n%refs), node(fmt.Sprint("n", p)), time.Hour)
				var lc *persistence.LeaseConflictError
				switch {
				case err == nil:
					winners[p] = append(winners[p], l)
				case errors.As(err, &lc), errors.Is(err, persistence.ErrUnavailable):
				default:
					t.Error(err)
					return
				}
			}
		}()
	}
	switches := 0
	for round := 0; round < 8*cycles; round++ {
		pr.primary.broken.Store(round%8 < 3)
		before := pr.s.Active()
		pr.rounds(1)
		if pr.s.Active() != before {
			switches++
		}
		runtime.Gosched() // let the placers run between rounds
	}
	pr.primary.broken.Store(false)
	close(stop)
	placing.Wait()
	holder := map[persistence.AddressableReference]persistence.NodeID{}
	for _, ws := range winners {
		for _, l := range ws {
			if h, ok := holder[l.Reference]; ok && h != l.Node {
				t.Fatalf("%s placed on %s and on %s", l.Reference, h, l.Node)
			}
			holder[l.Reference] = l.Node
		}
	}
	if len(holder) == 0 || switches == 0 {
		t.Fatalf("%d references placed across %d switches: the race did not happen", len(holder), switches)
	}
	t.Logf("%d references placed across %d switches", len(holder), switches)
}

// Between the failback synchronisation and the recorded switch, a write on
// the backup that could not be copied to the primary is copied at the
// switch, with requests held, so the primary misses nothing.
func TestFailbackCopiesWritesThePrimaryMissed(t *testing.T) {
	pr := newPair(t, func(o *composite.Options) { o.ManualFailback = true })
	ctx := context.Background()
	pr.primary.broken.Store(true)
	pr.rounds(3)
	pr.primary.broken.Store(false)
	pr.rounds(1)
	if _, err := pr.s.Sync(ctx); err != nil || pr.s.Status().StandbyBehind {
		t.Fatalf("synchronisation of the primary: %v, %+v", err, pr.s.Status())
	}
	pr.primary.broken.Store(true)
	l, err := pr.p.Addressables().Place(ctx, ref(9), node("a"), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pr.primary.broken.Store(false)
	if !pr.s.Status().StandbyBehind {
		t.Fatal("the failed copy did not mark the primary behind")
	}
	pr.s.FailbackNow()
	if pr.s.Active() != composite.Primary || pr.s.Status().StandbyBehind {
		t.Fatalf("after the switch: %+v", pr.s.Status())
	}
	if got, err := leaseOn(t, pr.primary, pr.clock, ref(9)); err != nil || !got.Equal(l) {
		t.Fatalf("primary after the switch: %v %v, want %v", got, err, l)
	}
}

// A server that starts while a failback is scheduled uses the backup until
// the recorded time, like the servers already running.
func TestStartDuringAScheduledFailback(t *testing.T) {
	pr := newPair(t, nil)
	ctx := context.Background()
	at := pr.clock.Now().Add(time.Hour)
	rec := fmt.Sprintf(`{"active":"primary","generation":2,"since":%q}`, at.Format(time.RFC3339Nano))
	if _, err := pr.backup.Put(ctx, composite.StateKey, []byte(rec), driver.CreateOnly()); err != nil {
		t.Fatal(err)
	}
	late := *pr
	late.open(nil)
	if got := late.s.Active(); got != composite.Backup {
		t.Fatalf("started on the %s during a scheduled failback", got)
	}
}
