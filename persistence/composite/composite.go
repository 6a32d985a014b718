package composite

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/orbit-go/orbit/clock"
	"github.com/orbit-go/orbit/persistence/driver"
	"github.com/prometheus/client_golang/prometheus"
)

// Mirror says how writes reach the standby side.
type Mirror int

const (
	// Sync copies every write to the standby before acknowledging it.
	Sync Mirror = iota
	// Async copies only at every full synchronisation.
	Async
)

func (m Mirror) String() string {
	if m == Async {
		return "async"
	}
	return "sync"
}

// Side names one of the two providers.
type Side int

const (
	Primary Side = iota
	Backup
)

func (s Side) String() string {
	if s == Backup {
		return "backup"
	}
	return "primary"
}

func (s Side) other() Side { return 1 - s }

// Options configure a Store. Primary and Backup are required; the store
// owns them and closes them on Close.
type Options struct {
	Primary, Backup driver.Store
	// PrimaryName and BackupName name the sides in logs and health reasons
	// (default "primary" and "backup").
	PrimaryName, BackupName string
	// SyncInterval is how often a full synchronisation runs in Async mode
	// (default 60 s); in Sync mode one runs only to catch up a standby that
	// missed writes.
	SyncInterval time.Duration
	// HealthCheckInterval is how often both sides are probed (default 30 s).
	// Negative disables the background loop: the caller drives CheckNow.
	HealthCheckInterval time.Duration
	// FailoverThreshold is how many consecutive failed probes of the active
	// primary trigger a failover, and how many consecutive good probes of a
	// recovered primary allow failback (default 3).
	FailoverThreshold int
	Mirror            Mirror
	// ManualFailback keeps the backup active after the primary recovers,
	// until RequestFailback.
	ManualFailback bool
	// ProbeTimeout bounds one probe (default HealthCheckInterval, at most 10 s).
	ProbeTimeout time.Duration
	// Clock is used for the state record's times and the sync lag (default
	// the system clock). Waiting is always on real time.
	Clock      clock.Clock
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Name labels the metrics (default "composite").
	Name string
	// OnSwitch, if set, is called after every switch of sides with the
	// names of the side left and the side now active, whether the switch
	// is a failover (to the backup), why, and the switch generation. It
	// runs under the store's locks: it must not block or call the store.
	OnSwitch func(from, to string, failover bool, reason string, generation uint64)
}

func (o *Options) defaults() error {
	if o.Primary == nil || o.Backup == nil {
		return fmt.Errorf("composite: primary and backup stores are required: %w", driver.ErrInvalidArgument)
	}
	if o.PrimaryName == "" {
		o.PrimaryName = "primary"
	}
	if o.BackupName == "" {
		o.BackupName = "backup"
	}
	if o.SyncInterval <= 0 {
		o.SyncInterval = 60 * time.Second
	}
	if o.HealthCheckInterval == 0 {
		o.HealthCheckInterval = 30 * time.Second
	}
	if o.FailoverThreshold <= 0 {
		o.FailoverThreshold = 3
	}
	if o.ProbeTimeout <= 0 {
		o.ProbeTimeout = min(max(o.HealthCheckInterval, time.Second), 10*time.Second)
	}
	if o.Clock == nil {
		o.Clock = clock.System{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Name == "" {
		o.Name = "composite"
	}
	return nil
}

// Store is the composite driver. It implements driver.Store and
// driver.HealthChecker.
type Store struct {
	opt   Options
	sides [2]driver.Store
	names [2]string
	log   *slog.Logger
	met   *metrics

	// mu guards the role fields. Every request holds it for reading while it
	// runs on the active side (and, for a write, while it mirrors), so a
	// switch, which holds it for writing, happens between requests.
	mu       sync.RWMutex
	active   Side
	gen      uint64        // incremented at every switch; part of every version
	switched chan struct{} // closed (and replaced) at every switch
	since    time.Time     // when the active side became active
	// running are the requests on the active side, which a failover
	// interrupts so that they return at once.
	running inflight

	// The standby is behind when a write could not be mirrored to it.
	// failSeq counts mirror failures; a full sync that started at failSeq
	// == n and ends with it unchanged brings the standby up to date.
	dmu           sync.Mutex          // guards dirty, dirtyOverflow and failSeq increments
	dirty         map[string]struct{} // keys whose copy to the standby failed
	dirtyOverflow bool
	failSeq       atomic.Uint64
	behind        atomic.Bool
	syncing       atomic.Bool    // a background synchronisation (catch-up or failback) runs
	failingBack   atomic.Bool    // from the start of a failback until its switch
	down          [2]atomic.Bool // the side's last probe failed
	lastSync      atomic.Int64   // unix nanoseconds of the start of the last complete sync (Clock)

	hmu                sync.Mutex // guards the health round state below
	fails, oks         [2]int
	health             [2]driver.Health
	switchTimer        *time.Timer
	lastFailover       time.Time
	lastFailoverProbes int
	pendingState       *State // a scheduled switch not yet made

	closed atomic.Bool
	stop   chan struct{}
	kick   chan struct{}  // asks the health loop for a round now
	wg     sync.WaitGroup // the health loop
	bg     sync.WaitGroup // background synchronisations
}

var (
	_ driver.Store         = (*Store)(nil)
	_ driver.HealthChecker = (*Store)(nil)
)

// Open builds the composite over two open stores. It reads the state
// record on the backup: if the backup was promoted (and not failed back),
// the store starts on the backup. It then runs one health round and starts
// the background loop.
func Open(ctx context.Context, o Options) (*Store, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	s := &Store{
		opt: o, sides: [2]driver.Store{o.Primary, o.Backup}, names: [2]string{o.PrimaryName, o.BackupName},
		log: o.Logger, switched: make(chan struct{}), stop: make(chan struct{}), kick: make(chan struct{}, 1), dirty: map[string]struct{}{}, since: o.Clock.Now(),
	}
	s.met = newMetrics(o.Registerer, o.Name)
	s.lastSync.Store(o.Clock.Now().UnixNano())
	// Whether the standby holds every write is unknown until a first
	// synchronisation (started by the first health round) completes.
	s.behind.Store(true)
	s.dirtyOverflow = true
	st, _, err := readState(ctx, s.sides[Backup])
	switch {
	case err != nil:
		s.log.Warn("composite: cannot read the failover state on the backup; starting on the primary",
			"backup", s.names[Backup], "error", err)
	case st.Active == Backup:
		s.active, s.since = Backup, st.Since
		s.log.Warn("composite: the backup is active (failed over earlier); starting on it",
			"backup", s.names[Backup], "since", st.Since, "generation", st.Generation)
	case st.Since.After(o.Clock.Now()):
		// A failback is scheduled: the other servers use the backup until
		// then, and so does this one (the first health round schedules the
		// switch).
		s.active = Backup
		s.log.Warn("composite: a failback to the primary is scheduled; starting on the backup until then",
			"backup", s.names[Backup], "failback_at", st.Since, "generation", st.Generation)
	}
	s.met.setActive(s.active)
	s.CheckNow(ctx)
	if o.HealthCheckInterval > 0 {
		s.wg.Add(1)
		go s.loop()
	}
	return s, nil
}

// Active reports the active side.
func (s *Store) Active() Side {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.active
}

// Status is a snapshot of the composite's state.
type Status struct {
	Active Side
	// Since is when Active became active.
	Since time.Time
	// Generation counts the switches made by this store.
	Generation uint64
	// StandbyBehind is true while the standby may miss acknowledged writes.
	StandbyBehind bool
	// LastSync is when the last complete full synchronisation started.
	LastSync time.Time
	// ConsecutiveFailures of each side's probes.
	ConsecutiveFailures [2]int
	Health              [2]driver.Health
	// LastFailover is when this store last failed over, and after how many
	// consecutive failed probes of the primary (zero if it never did).
	LastFailover       time.Time
	LastFailoverProbes int
}

// Status returns a snapshot of the composite's state.
func (s *Store) Status() Status {
	s.mu.RLock()
	st := Status{Active: s.active, Since: s.since, Generation: s.gen}
	s.mu.RUnlock()
	st.StandbyBehind = s.behind.Load()
	st.LastSync = time.Unix(0, s.lastSync.Load())
	s.hmu.Lock()
	st.ConsecutiveFailures = s.fails
	st.Health = s.health
	st.LastFailover, st.LastFailoverProbes = s.lastFailover, s.lastFailoverProbes
	s.hmu.Unlock()
	return st
}

// ---- versions ----

// wrap makes the composite version of v, written by side during generation
// gen: a version from another generation (before or after a switch) never
// matches, even if the other side happens to use the same native version.
func wrap(gen uint64, v driver.Version) driver.Version {
	if v.IsZero() {
		return v
	}
	if v.Tag() != "" {
		return driver.TagVersion(strconv.FormatUint(gen, 36) + ".t" + v.Tag())
	}
	return driver.TagVersion(strconv.FormatUint(gen, 36) + ".n" + strconv.FormatUint(v.Num(), 36))
}

// unwrap returns the native version of v if it belongs to generation gen.
func unwrap(gen uint64, v driver.Version) (driver.Version, bool) {
	g, rest, ok := strings.Cut(v.Tag(), ".")
	if !ok || len(rest) < 2 {
		return driver.Version{}, false
	}
	if n, err := strconv.ParseUint(g, 36, 64); err != nil || n != gen {
		return driver.Version{}, false
	}
	switch rest[0] {
	case 't':
		return driver.TagVersion(rest[1:]), true
	case 'n':
		n, err := strconv.ParseUint(rest[1:], 36, 64)
		if err != nil || n == 0 {
			return driver.Version{}, false
		}
		return driver.NumVersion(n), true
	}
	return driver.Version{}, false
}

// innerCond translates cond for the active side of generation gen.
func innerCond(gen uint64, key string, cond driver.Condition) (driver.Condition, error) {
	if cond.Kind != driver.IfVersion {
		return cond, nil
	}
	v, ok := unwrap(gen, cond.Version)
	if !ok {
		return cond, fmt.Errorf("composite: %q: version %s is from another side or generation: %w", key, cond.Version, driver.ErrConflict)
	}
	return driver.MatchVersion(v), nil
}

// ---- requests ----

// call is one request on the active side. begin holds the roles for
// reading until end; ctx is the caller's context with a cancel that a
// failover calls, so that requests stuck on a failing primary return at
// once instead of delaying the switch.
type call struct {
	act  Side
	gen  uint64
	sw   chan struct{}
	ctx  context.Context
	done context.CancelFunc
	id   uint64
}

func (s *Store) begin(ctx context.Context) call {
	s.mu.RLock()
	c := call{act: s.active, gen: s.gen, sw: s.switched}
	c.ctx, c.done = context.WithCancel(ctx)
	c.id = s.running.add(c.done)
	return c
}

// interrupted reports whether c was cancelled by a failover (not by its
// caller, whose context is outer).
func (c *call) interrupted(outer context.Context) bool {
	return outer.Err() == nil && c.ctx.Err() != nil
}

// end releases the roles. An error caused by the failover cancelling the
// request (not by the caller) becomes ErrUnavailable, which rides through.
func (s *Store) end(c call, outer context.Context, op, key string, err error) error {
	s.running.remove(c.id)
	interrupted := c.interrupted(outer)
	c.done()
	s.mu.RUnlock()
	if err != nil && interrupted {
		return fmt.Errorf("composite: %s %q: interrupted by a failover of the %s: %w", op, key, c.act, driver.ErrUnavailable)
	}
	return err
}

// rideThrough waits, after a request failed with ErrUnavailable on the
// primary, for the health loop to switch sides (a failover being confirmed;
// it also asks for a probe at once). It reports whether a switch happened,
// in which case the request is retried once.
func (s *Store) rideThrough(ctx context.Context, act Side, err error, sw chan struct{}) bool {
	if act != Primary || !errors.Is(err, driver.ErrUnavailable) || s.closed.Load() || s.opt.HealthCheckInterval < 0 {
		return false
	}
	select {
	case s.kick <- struct{}{}:
	default:
	}
	wait := time.Duration(s.opt.FailoverThreshold+1) * s.opt.HealthCheckInterval
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-sw:
		return true
	case <-t.C:
	case <-ctx.Done():
	case <-s.stop:
	}
	return false
}

func (s *Store) checkOpen(op, key string) error {
	if s.closed.Load() {
		return fmt.Errorf("composite: %s %q: %w", op, key, driver.ErrClosed)
	}
	return nil
}

// Get reads key on the active side.
func (s *Store) Get(ctx context.Context, key string) (driver.Entry, error) {
	if err := s.checkOpen("get", key); err != nil {
		return driver.Entry{}, err
	}
	for attempt := 0; ; attempt++ {
		c := s.begin(ctx)
		e, err := s.sides[c.act].Get(c.ctx, key)
		if err = s.end(c, ctx, "get", key, err); err == nil {
			e.Version = wrap(c.gen, e.Version)
			return e, nil
		}
		if attempt == 0 && s.rideThrough(ctx, c.act, err, c.sw) {
			continue
		}
		return driver.Entry{}, err
	}
}

// Put writes key on the active side with its native compare-and-swap and,
// in Sync mode, mirrors it to the standby before returning.
func (s *Store) Put(ctx context.Context, key string, value []byte, cond driver.Condition) (driver.Version, error) {
	if err := s.checkOpen("put", key); err != nil {
		return driver.Version{}, err
	}
	for attempt := 0; ; attempt++ {
		c := s.begin(ctx)
		inner, err := innerCond(c.gen, key, cond)
		var v driver.Version
		if err == nil {
			v, err = s.sides[c.act].Put(c.ctx, key, value, inner)
			if err == nil {
				err = s.mirror(c, key)
			}
		}
		if err = s.end(c, ctx, "put", key, err); err == nil {
			return wrap(c.gen, v), nil
		}
		if attempt == 0 && s.rideThrough(ctx, c.act, err, c.sw) {
			continue
		}
		return driver.Version{}, err
	}
}

// Delete removes key on the active side and mirrors the removal.
func (s *Store) Delete(ctx context.Context, key string, cond driver.Condition) error {
	if err := s.checkOpen("delete", key); err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		c := s.begin(ctx)
		inner, err := innerCond(c.gen, key, cond)
		if err == nil {
			err = s.sides[c.act].Delete(c.ctx, key, inner)
			if err == nil {
				err = s.mirror(c, key)
			}
		}
		if err = s.end(c, ctx, "delete", key, err); err == nil {
			return nil
		}
		if attempt == 0 && s.rideThrough(ctx, c.act, err, c.sw) {
			continue
		}
		return err
	}
}

// List lists the active side. The composite's own state record is hidden.
func (s *Store) List(ctx context.Context, prefix string, opts driver.ListOptions) (driver.ListPage, error) {
	if err := s.checkOpen("list", prefix); err != nil {
		return driver.ListPage{}, err
	}
	for attempt := 0; ; attempt++ {
		c := s.begin(ctx)
		page, err := s.sides[c.act].List(c.ctx, prefix, opts)
		if err = s.end(c, ctx, "list", prefix, err); err == nil {
			out := make([]driver.Entry, 0, len(page.Entries))
			for _, e := range page.Entries {
				if e.Key == StateKey {
					continue
				}
				e.Version = wrap(c.gen, e.Version)
				out = append(out, e)
			}
			if len(out) == 0 && len(page.Entries) > 0 && page.More {
				// The page held only the state record: continue after it.
				opts.StartAfter = StateKey
				attempt = -1
				continue
			}
			page.Entries = out
			return page, nil
		}
		if attempt == 0 && s.rideThrough(ctx, c.act, err, c.sw) {
			continue
		}
		return driver.ListPage{}, err
	}
}

// Close stops the health loop and any synchronisation, then closes both sides.
func (s *Store) Close(ctx context.Context) error {
	if !s.closed.CompareAndSwap(false, true) {
		return fmt.Errorf("composite: %w", driver.ErrClosed)
	}
	close(s.stop)
	s.hmu.Lock()
	if s.switchTimer != nil {
		s.switchTimer.Stop()
	}
	s.hmu.Unlock()
	s.wg.Wait()
	s.bg.Wait()
	s.running.interrupt()
	var errs []error
	for i, st := range s.sides {
		if err := st.Close(ctx); err != nil && !errors.Is(err, driver.ErrClosed) {
			errs = append(errs, fmt.Errorf("close %s %q: %w", Side(i), s.names[i], err))
		}
	}
	s.met.unregister()
	return errors.Join(errs...)
}
