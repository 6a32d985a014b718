package composite

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/orbit-go/orbit/persistence/driver"
)

// probeKey is read by the probe of a side without its own health check.
const probeKey = "h/probe"

// probe checks one side: its own health check if it has one (Degraded
// counts as up), else one read.
func (s *Store) probe(ctx context.Context, side Side) driver.Health {
	ctx, cancel := context.WithTimeout(ctx, s.opt.ProbeTimeout)
	defer cancel()
	if hc, ok := s.sides[side].(driver.HealthChecker); ok {
		return hc.HealthCheck(ctx)
	}
	if _, err := s.sides[side].Get(ctx, probeKey); err != nil && !errors.Is(err, driver.ErrNotFound) {
		return driver.Health{Status: driver.Unhealthy, Reason: "probe read failed: " + err.Error()}
	}
	return driver.Health{Status: driver.Healthy}
}

func (s *Store) loop() {
	defer s.wg.Done()
	t := time.NewTicker(s.opt.HealthCheckInterval)
	defer t.Stop()
	round := func() {
		ctx, cancel := context.WithTimeout(context.Background(), s.opt.ProbeTimeout+s.opt.HealthCheckInterval)
		s.CheckNow(ctx)
		cancel()
	}
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			round()
		case <-s.kick:
			// A request failed on the active side, which its last probe
			// found up: probe now and count the threshold from here.
			s.hmu.Lock()
			first := s.fails[s.Active()] == 0
			s.hmu.Unlock()
			if first {
				t.Reset(s.opt.HealthCheckInterval)
				round()
			}
		}
	}
}

// CheckNow runs one health round: it probes both sides, follows the state
// record on the backup, fails over, starts a failback or a catch-up
// synchronisation when due. The background loop calls it every
// HealthCheckInterval; tests call it directly.
func (s *Store) CheckNow(ctx context.Context) {
	if s.closed.Load() {
		return
	}
	var h [2]driver.Health
	done := make(chan struct{})
	go func() { h[Backup] = s.probe(ctx, Backup); close(done) }()
	h[Primary] = s.probe(ctx, Primary)
	<-done

	s.hmu.Lock()
	for i := range h {
		up := h[i].Status != driver.Unhealthy
		if up {
			s.fails[i], s.oks[i] = 0, s.oks[i]+1
		} else {
			s.fails[i], s.oks[i] = s.fails[i]+1, 0
		}
		s.down[i].Store(!up)
		s.health[i] = h[i]
	}
	fails, oks := s.fails, s.oks
	s.hmu.Unlock()

	st := State{Active: s.Active()}
	stateKnown := false
	if !s.down[Backup].Load() {
		rec, _, err := readState(ctx, s.sides[Backup])
		if err != nil {
			s.log.Warn("composite: cannot read the state record", "backup", s.names[Backup], "error", err)
		} else {
			st, stateKnown = rec, true
			s.follow(rec)
		}
	}

	act := s.Active()
	switch {
	case act == Primary && fails[Primary] >= s.opt.FailoverThreshold && !s.down[Backup].Load():
		s.failover(ctx, h[Primary].Reason, fails[Primary])
	case act == Backup && stateKnown && st.Active == Backup && oks[Primary] >= s.opt.FailoverThreshold &&
		(!s.opt.ManualFailback || st.FailbackRequested):
		s.startBackground(func(ctx context.Context) { s.failback(ctx) })
	}

	act = s.Active()
	stb := act.other()
	due := (s.opt.Mirror == Sync && s.behind.Load()) ||
		(s.opt.Mirror == Async && s.opt.Clock.Now().Sub(time.Unix(0, s.lastSync.Load())) >= s.opt.SyncInterval)
	if due && !s.down[stb].Load() && !s.down[act].Load() {
		s.startBackground(func(ctx context.Context) {
			res, err := s.fullSync(ctx, act)
			s.logSync(res, err)
		})
	}
	s.updateMetrics()
}

// startBackground runs f in the background unless a background job runs.
func (s *Store) startBackground(f func(ctx context.Context)) {
	if !s.syncing.CompareAndSwap(false, true) {
		return
	}
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		defer s.syncing.Store(false)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() {
			select {
			case <-s.stop:
				cancel()
			case <-ctx.Done():
			}
		}()
		f(ctx)
	}()
}

func (s *Store) logSync(res SyncResult, err error) {
	if err != nil {
		if !s.closed.Load() {
			s.log.Warn("composite: synchronisation failed; it is retried at the next health check",
				"from", s.names[res.From], "to", s.names[res.To], "copied", res.Copied, "deleted", res.Deleted, "error", err)
		}
		return
	}
	s.log.Info("composite: synchronised", "from", s.names[res.From], "to", s.names[res.To],
		"compared", res.Compared, "copied", res.Copied, "deleted", res.Deleted, "took", res.Took.Round(time.Millisecond))
}

// follow makes the store use the side the state record names: at once for
// a failover, at the recorded time for a failback.
func (s *Store) follow(st State) {
	s.hmu.Lock()
	defer s.hmu.Unlock()
	if s.pendingState != nil && s.pendingState.Generation == st.Generation {
		return // already scheduled
	}
	if s.switchTimer != nil {
		s.switchTimer.Stop()
		s.switchTimer, s.pendingState = nil, nil
		s.failingBack.Store(false)
	}
	if st.Active == s.Active() {
		return
	}
	wait := st.Since.Sub(s.opt.Clock.Now())
	switch {
	case st.Active == Backup:
		s.switchTo(Backup, st.Since, "the state record says so", st.Generation)
		return
	case wait <= 0:
		s.failbackSwitch(st)
		return
	}
	s.failingBack.Store(true) // mirror to the primary until the switch
	pending := st
	s.pendingState = &pending
	s.switchTimer = time.AfterFunc(wait, func() {
		s.hmu.Lock()
		defer s.hmu.Unlock()
		if s.pendingState == nil || s.pendingState.Generation != pending.Generation || s.closed.Load() {
			return
		}
		s.switchTimer, s.pendingState = nil, nil
		s.failbackSwitch(pending)
	})
	s.log.Info("composite: failback scheduled", "primary", s.names[Primary], "at", st.Since, "in", wait.Round(time.Millisecond))
}

// failbackSwitch makes the primary active again, as recorded in st. If the
// primary missed writes mirrored from the backup since its synchronisation,
// they are copied first, with every request held. The caller holds s.hmu.
func (s *Store) failbackSwitch(st State) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.active == Primary {
		return
	}
	if s.behind.Load() {
		ctx, cancel := context.WithTimeout(context.Background(), s.opt.ProbeTimeout)
		err := s.catchUpDirty(ctx, Backup)
		cancel()
		if err != nil {
			s.log.Error("composite: failing back to a primary that missed writes made on the backup",
				"primary", s.names[Primary], "error", err)
		}
	}
	s.switchLocked(Primary, st.Since, "failback", st.Generation)
	s.failingBack.Store(false)
}

// switchTo makes side active. The caller holds s.hmu.
func (s *Store) switchTo(side Side, since time.Time, why string, generation uint64) {
	s.mu.Lock()
	s.switchLocked(side, since, why, generation)
	s.mu.Unlock()
}

// switchLocked makes side active. The caller holds s.hmu and s.mu.
func (s *Store) switchLocked(side Side, since time.Time, why string, generation uint64) {
	if s.active == side {
		return
	}
	from := s.active
	s.active = side
	s.gen++
	close(s.switched)
	s.switched = make(chan struct{})
	s.since = since
	s.dmu.Lock()
	s.failSeq.Add(1) // a synchronisation running across the switch clears nothing
	clear(s.dirty)
	s.dirtyOverflow = false
	if side == Backup {
		// The primary misses everything written from now on: only a full
		// synchronisation can catch it up.
		s.behind.Store(true)
		s.dirtyOverflow = true
		s.met.failovers.Inc()
	} else {
		// The backup, active until now, holds every write.
		s.behind.Store(false)
		s.met.failbacks.Inc()
	}
	s.dmu.Unlock()
	s.met.setActive(side)
	s.log.Warn("composite: switched sides", "from", s.names[from], "to", s.names[side], "active", side.String(),
		"reason", why, "generation", generation)
	if s.opt.OnSwitch != nil {
		s.opt.OnSwitch(s.names[from], s.names[side], side == Backup, why, generation)
	}
}

// failover promotes the backup. It holds the roles for writing from the
// last check that the backup holds every acknowledged write until the
// switch, so that no write is acknowledged in between: it then records the
// switch on the backup and makes it.
func (s *Store) failover(ctx context.Context, reason string, fails int) {
	// Requests still running on the primary return at once (and ride
	// through to the backup) instead of holding the switch up to the
	// primary's own timeout.
	s.running.interrupt()
	s.hmu.Lock()
	defer s.hmu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	// After the switch, or if the failover does not happen, requests run
	// normally again.
	defer s.running.resume()
	if s.active == Backup {
		return
	}
	if s.opt.Mirror == Sync && s.behind.Load() {
		s.log.Error("composite: the primary is down but the backup missed writes; not failing over (it could grant a lease twice)",
			"primary", s.names[Primary], "reason", reason, "backup", s.names[Backup])
		return
	}
	for attempt := 0; attempt < 5; attempt++ {
		st, ver, err := readState(ctx, s.sides[Backup])
		if err != nil {
			s.log.Error("composite: failover: cannot read the state record", "backup", s.names[Backup], "error", err)
			return
		}
		next := st
		if st.Active != Backup {
			next = State{Active: Backup, Generation: st.Generation + 1, Since: s.opt.Clock.Now()}
			err = writeState(ctx, s.sides[Backup], next, ver)
			if errors.Is(err, driver.ErrConflict) {
				continue
			}
			if err != nil {
				s.log.Error("composite: failover: cannot write the state record", "backup", s.names[Backup], "error", err)
				return
			}
		}
		s.log.Warn("composite: failing over to the backup", "primary", s.names[Primary], "reason", reason,
			"failed_probes", fails, "backup", s.names[Backup])
		s.lastFailover, s.lastFailoverProbes = time.Now(), fails
		if s.switchTimer != nil {
			s.switchTimer.Stop()
			s.switchTimer, s.pendingState = nil, nil
			s.failingBack.Store(false)
		}
		s.switchLocked(Backup, next.Since, "failover", next.Generation)
		return
	}
}

// failback synchronises the primary from the backup, then records the
// switch back, two health intervals ahead.
func (s *Store) failback(ctx context.Context) {
	s.log.Info("composite: the primary is healthy again; synchronising it from the backup", "primary", s.names[Primary])
	s.failingBack.Store(true)
	keep := false
	defer func() {
		if !keep {
			s.failingBack.Store(false)
		}
	}()
	res, err := s.fullSync(ctx, Backup)
	s.logSync(res, err)
	if err != nil {
		return
	}
	if s.behind.Load() {
		s.log.Warn("composite: failback postponed: writes could not be copied to the primary during its synchronisation",
			"primary", s.names[Primary])
		return
	}
	for attempt := 0; attempt < 5; attempt++ {
		st, ver, err := readState(ctx, s.sides[Backup])
		if err != nil {
			s.log.Error("composite: failback: cannot read the state record", "error", err)
			return
		}
		if st.Active == Primary {
			s.follow(st)
			keep = true
			return
		}
		interval := max(s.opt.HealthCheckInterval, 0)
		next := State{Active: Primary, Generation: st.Generation + 1, Since: s.opt.Clock.Now().Add(2 * interval)}
		err = writeState(ctx, s.sides[Backup], next, ver)
		if errors.Is(err, driver.ErrConflict) {
			continue
		}
		if err != nil {
			s.log.Error("composite: failback: cannot write the state record", "error", err)
			return
		}
		keep = true
		s.follow(next)
		return
	}
}

// HealthCheck reports the state of the last health round: Unhealthy when
// the active side fails its probes, Degraded while running on the backup or
// with a standby that is down or behind, else Healthy.
func (s *Store) HealthCheck(ctx context.Context) driver.Health {
	if s.closed.Load() {
		return driver.Health{Status: driver.Unhealthy, Reason: "composite is closed"}
	}
	st := s.Status()
	act, stb := st.Active, st.Active.other()
	switch {
	case st.Health[act].Status == driver.Unhealthy:
		return driver.Health{Status: driver.Unhealthy, Reason: fmt.Sprintf("active %s %q fails its health checks (%d in a row): %s",
			act, s.names[act], st.ConsecutiveFailures[act], st.Health[act].Reason)}
	case act == Backup:
		return driver.Health{Status: driver.Degraded, Reason: fmt.Sprintf("running on the backup %q since %s (primary %q: %s)",
			s.names[Backup], st.Since.UTC().Format(time.RFC3339), s.names[Primary], healthWord(st.Health[Primary]))}
	case st.Health[stb].Status == driver.Unhealthy:
		return driver.Health{Status: driver.Degraded, Reason: fmt.Sprintf("standby %s %q is down: %s", stb, s.names[stb], st.Health[stb].Reason)}
	case s.opt.Mirror == Sync && st.StandbyBehind:
		return driver.Health{Status: driver.Degraded, Reason: fmt.Sprintf("standby %s %q is behind; synchronising", stb, s.names[stb])}
	}
	return driver.Health{Status: driver.Healthy}
}

func healthWord(h driver.Health) string {
	if h.Reason == "" {
		return h.Status.String()
	}
	return h.Status.String() + ": " + h.Reason
}
