package composite

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/orbit-go/orbit/persistence/driver"
)

// copied says what one key copy changed on the standby.
type copied int

const (
	copiedNothing copied = iota
	copiedValue
	copiedDeletion
)

// copyAttempts bounds the compare-and-swap retries of one key copy.
const copyAttempts = 16

// copyKey makes to's value of key equal to from's. It reads to's version
// first and from's value second, then writes to with a compare-and-swap on
// that version: a copy that lands was read from from after every earlier
// landed copy, so concurrent copies (from several servers) never leave an
// older value over a newer one. It reports what it changed.
func copyKey(ctx context.Context, from, to driver.Store, key string) (copied, error) {
	for attempt := 0; attempt < copyAttempts; attempt++ {
		t, err := to.Get(ctx, key)
		tFound := err == nil
		if err != nil && !errors.Is(err, driver.ErrNotFound) {
			return copiedNothing, fmt.Errorf("read %q on the standby: %w", key, err)
		}
		f, err := from.Get(ctx, key)
		fFound := err == nil
		if err != nil && !errors.Is(err, driver.ErrNotFound) {
			return copiedNothing, &activeError{fmt.Errorf("read %q on the active side: %w", key, err)}
		}
		what := copiedValue
		switch {
		case !fFound && !tFound:
			return copiedNothing, nil
		case !fFound:
			what = copiedDeletion
			err = to.Delete(ctx, key, driver.MatchVersion(t.Version))
		case tFound && bytes.Equal(t.Value, f.Value):
			return copiedNothing, nil
		case tFound:
			_, err = to.Put(ctx, key, bytes.Clone(f.Value), driver.MatchVersion(t.Version))
		default:
			_, err = to.Put(ctx, key, bytes.Clone(f.Value), driver.CreateOnly())
		}
		if errors.Is(err, driver.ErrConflict) || (!fFound && errors.Is(err, driver.ErrNotFound)) {
			continue // another copy landed first: judge again
		}
		if err != nil {
			return copiedNothing, fmt.Errorf("write %q on the standby: %w", key, err)
		}
		return what, nil
	}
	return copiedNothing, fmt.Errorf("copy %q: lost %d compare-and-swap races in a row: %w", key, copyAttempts, driver.ErrConflict)
}

// activeError marks a copy that failed on the active side.
type activeError struct{ err error }

func (e *activeError) Error() string { return e.err.Error() }
func (e *activeError) Unwrap() error { return e.err }

// mirrorsNow reports whether writes are copied to the standby as they are
// made: in Sync mode, and in any mode while a failback is pending (so the
// primary misses nothing between its synchronisation and the switch).
func (s *Store) mirrorsNow() bool {
	return s.opt.Mirror == Sync || s.failingBack.Load()
}

// mirror copies key from the active side act to the standby after a write.
// The caller holds s.mu for reading. A standby that fails marks itself
// behind and does not fail the write, which the active side decided. An
// active side that fails the re-read fails the write with ErrUnavailable:
// it may be going down, and a write acknowledged but missing on the
// standby could be lost by the failover.
func (s *Store) mirror(c call, key string) error {
	if !s.mirrorsNow() {
		return nil
	}
	act, stb := c.act, c.act.other()
	if s.down[stb].Load() {
		s.markBehind(stb, key, errors.New("its last probe failed"))
		return nil
	}
	_, err := copyKey(c.ctx, s.sides[act], s.sides[stb], key)
	var ae *activeError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ae), c.ctx.Err() != nil:
		// Not acknowledged, so the standby may miss it: whoever wrote it
		// is told it failed (a lost answer), and the standby's view
		// prevails after a failover.
		return fmt.Errorf("composite: %q was written on the %s but could not be copied to the %s: %w", key, act, stb, driver.ErrUnavailable)
	default:
		s.markBehind(stb, key, err)
		return nil
	}
}

// markBehind records that the standby missed a write.
func (s *Store) markBehind(stb Side, key string, cause error) {
	s.dmu.Lock()
	if len(s.dirty) < maxDirty {
		s.dirty[key] = struct{}{}
	} else {
		s.dirtyOverflow = true
	}
	s.failSeq.Add(1)
	s.dmu.Unlock()
	if s.behind.CompareAndSwap(false, true) {
		s.met.behind.Set(1)
		s.log.Warn("composite: a write could not be copied to the standby; it is behind until the next synchronisation",
			"standby", s.names[stb], "side", stb.String(), "key", key, "error", cause)
	}
}

// maxDirty bounds the set of keys whose copy to the standby failed; beyond
// it only a full synchronisation can catch the standby up.
const maxDirty = 1 << 16

// clearBehindIf clears the behind mark and the dirty keys if no copy failed
// since failSeq was startSeq.
func (s *Store) clearBehindIf(startSeq uint64) {
	s.dmu.Lock()
	defer s.dmu.Unlock()
	if s.failSeq.Load() != startSeq {
		return
	}
	s.behind.Store(false)
	s.met.behind.Set(0)
	clear(s.dirty)
	s.dirtyOverflow = false
}

// catchUpDirty copies the keys whose copy failed from side from to the
// other side, and clears the behind mark if all of them are copied and the
// set is complete. The caller holds s.mu for writing (no write runs).
func (s *Store) catchUpDirty(ctx context.Context, from Side) error {
	s.dmu.Lock()
	keys := make([]string, 0, len(s.dirty))
	for k := range s.dirty {
		keys = append(keys, k)
	}
	overflow := s.dirtyOverflow
	seq := s.failSeq.Load()
	s.dmu.Unlock()
	if overflow {
		return fmt.Errorf("more than %d keys missed their copy: only a full synchronisation can tell which", maxDirty)
	}
	for _, k := range keys {
		if _, err := copyKey(ctx, s.sides[from], s.sides[from.other()], k); err != nil {
			return err
		}
	}
	s.clearBehindIf(seq)
	return nil
}

// SyncResult counts what one full synchronisation did.
type SyncResult struct {
	From, To        Side
	Compared        int
	Copied, Deleted int
	Took            time.Duration
}

// syncPageSize is the listing page size of a full synchronisation.
const syncPageSize = 1000

// pager walks one side's keys in order, a page at a time.
type pager struct {
	st    driver.Store
	page  []driver.Entry
	i     int
	more  bool
	after string
}

func (p *pager) peek(ctx context.Context) (driver.Entry, bool, error) {
	for p.i >= len(p.page) {
		if !p.more {
			return driver.Entry{}, false, nil
		}
		pg, err := p.st.List(ctx, "", driver.ListOptions{StartAfter: p.after, Limit: syncPageSize})
		if err != nil {
			return driver.Entry{}, false, err
		}
		p.page, p.i, p.more = pg.Entries, 0, pg.More
		if len(pg.Entries) > 0 {
			p.after = pg.Entries[len(pg.Entries)-1].Key
		}
	}
	return p.page[p.i], true, nil
}

// Sync runs one full synchronisation from the active side to the standby
// now and waits for it. In Sync mode a synchronisation that ends without a
// mirror failure since it started clears StandbyBehind.
func (s *Store) Sync(ctx context.Context) (SyncResult, error) {
	return s.fullSync(ctx, s.Active())
}

// fullSync copies every key of from that the other side lacks or holds
// with another value, and deletes from the other side the keys from lacks.
// Each key is copied while from is still active; the synchronisation stops
// with an error if the roles change.
func (s *Store) fullSync(ctx context.Context, from Side) (SyncResult, error) {
	to := from.other()
	res := SyncResult{From: from, To: to}
	startSeq := s.failSeq.Load()
	start := s.opt.Clock.Now()
	t0 := time.Now()
	src := &pager{st: s.sides[from], more: true}
	dst := &pager{st: s.sides[to], more: true}
	for {
		fe, fok, err := src.peek(ctx)
		if err != nil {
			return res, fmt.Errorf("composite: sync %s→%s: list %s %q: %w", from, to, from, s.names[from], err)
		}
		te, tok, err := dst.peek(ctx)
		if err != nil {
			return res, fmt.Errorf("composite: sync %s→%s: list %s %q: %w", from, to, to, s.names[to], err)
		}
		if !fok && !tok {
			break
		}
		var key string
		differ := true
		switch {
		case fok && tok && fe.Key == te.Key:
			key, differ = fe.Key, !bytes.Equal(fe.Value, te.Value)
			src.i++
			dst.i++
		case !tok || (fok && fe.Key < te.Key):
			key = fe.Key
			src.i++
		default:
			key = te.Key
			dst.i++
		}
		if key == StateKey {
			continue
		}
		res.Compared++
		if !differ {
			continue
		}
		what, err := s.copyWhileActive(ctx, from, key)
		if err != nil {
			return res, fmt.Errorf("composite: sync %s→%s: %w", from, to, err)
		}
		switch what {
		case copiedValue:
			res.Copied++
		case copiedDeletion:
			res.Deleted++
		}
	}
	res.Took = time.Since(t0)
	s.clearBehindIf(startSeq)
	s.lastSync.Store(start.UnixNano())
	s.met.syncs.Inc()
	return res, nil
}

// errRolesChanged stops a synchronisation whose source stopped being active.
var errRolesChanged = errors.New("the active side changed during the synchronisation")

// copyWhileActive copies key from side from to the other side, holding the
// roles so that no switch happens during the copy.
func (s *Store) copyWhileActive(ctx context.Context, from Side, key string) (copied, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.active != from {
		return copiedNothing, errRolesChanged
	}
	if s.closed.Load() {
		return copiedNothing, driver.ErrClosed
	}
	return copyKey(ctx, s.sides[from], s.sides[from.other()], key)
}
