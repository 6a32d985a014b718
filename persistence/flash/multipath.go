package flash

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/orbit-go/orbit/persistence/driver"
)

// Multipathing, in short (docs/flash.md has the long form):
//
//   - every path holds a full copy. A write is decided once, on the
//     primary (the first in-sync path), under the keys' stripe locks, and
//     committed as one engine batch to every in-sync and every
//     re-synchronising path in parallel;
//   - a path whose write, sync or background job fails is poisoned at once
//     (never read or written again) and removed from the in-sync set; the
//     new set is written, synced, to the remaining in-sync paths (the
//     membership record, with an epoch) before any write that missed the
//     path is acknowledged;
//   - the maintenance loop closes a removed path, reopens it every
//     RetryInterval, and re-synchronises it: from then on it receives every
//     write, and a scan compares it key by key with the primary (under each
//     key's stripe lock, so no write interleaves) and repairs what differs;
//     then it rejoins the in-sync set (a new membership record);
//   - on open, the path with the highest epoch is the source; after an
//     unclean shutdown every other path is re-synchronised from it.

// writeMembership writes m (and each target's own id) to targets, synced;
// failures poison the target.
func (s *Store) writeMembership(targets []*instance, m membership) []error {
	state := encodeMembership(m)
	return forEach(targets, func(in *instance) error {
		return s.apply(in, []kvop{{key: metaState, value: state}, {key: metaID, value: []byte(in.id)}}, pebble.Sync)
	})
}

// removeFailed drops every poisoned instance from the view and records the
// new in-sync set on the remaining in-sync paths.
func (s *Store) removeFailed() error {
	s.memMu.Lock()
	defer s.memMu.Unlock()
	if s.closed.Load() {
		return s.errClosed()
	}
	s.removeFailedLocked()
	return nil
}

func (s *Store) removeFailedLocked() {
	for {
		v := s.view.Load()
		members := healthy(v.members)
		syncing := healthy(v.syncing)
		if len(members) == len(v.members) && len(syncing) == len(v.syncing) {
			return
		}
		nv := &view{epoch: v.epoch + 1, members: members, verifying: healthy(v.verifying), syncing: syncing}
		if len(members) > 0 {
			s.writeMembership(members, membership{epoch: nv.epoch, members: ids(members)})
		}
		s.view.Store(nv)
		for _, in := range append(slices.Clone(v.members), v.syncing...) {
			if in.failed() != nil {
				s.log.Warn("flash: path removed from the in-sync set", "path", in.p.dir, "error", in.failed().Error(),
					"in_sync", len(healthy(nv.members)), "paths", len(s.paths), "write_quorum", s.quorum)
			}
		}
	}
}

func healthy(ins []*instance) []*instance {
	out := make([]*instance, 0, len(ins))
	for _, in := range ins {
		if in.failed() == nil {
			out = append(out, in)
		}
	}
	return out
}

func (v *view) has(in *instance) bool {
	return slices.Contains(v.members, in) || slices.Contains(v.syncing, in)
}

// maintain is the background loop: it removes failed paths, closes them,
// reopens them and starts their re-synchronisation.
func (s *Store) maintain() {
	defer s.wg.Done()
	t := time.NewTicker(s.opts.RetryInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stopC:
			return
		case <-s.kickC:
			s.tend(false) // a failure: remove and close now, reopen at the next tick
		case <-t.C:
			s.tend(true)
		}
	}
}

func (s *Store) stopping() bool {
	select {
	case <-s.stopC:
		return true
	default:
		return false
	}
}

func (s *Store) tend(reopen bool) {
	v := s.view.Load()
	if len(healthy(v.members)) != len(v.members) || len(healthy(v.syncing)) != len(v.syncing) {
		if s.removeFailed() != nil {
			return
		}
	}
	v = s.view.Load()
	// Close the instances that left the view.
	for _, p := range s.paths {
		in := p.cur.Load()
		if in == nil || v.has(in) || p.resyncing.Load() {
			continue
		}
		s.memMu.Lock() // no operation still uses it after this
		s.memMu.Unlock()
		p.cur.Store(nil)
		if err := closeInstance(in, s.opts.StallTimeout); err != nil {
			s.log.Warn("flash: closing a failed path", "path", p.dir, "error", err.Error())
		}
	}
	if !reopen || s.stopping() {
		return
	}
	if v.live() == 0 {
		// No path left to copy from: start over as at open (the path
		// with the highest epoch holds every acknowledged write).
		if err := s.recover(); err != nil {
			s.log.Warn("flash: no path in sync; recovery failed, retrying", "error", err.Error())
		}
		return
	}
	for _, p := range s.paths {
		if p.cur.Load() != nil || s.stopping() {
			continue
		}
		in, st, err := s.openPath(p)
		if err != nil {
			p.setErr(err)
			continue
		}
		if st.id == "" {
			in.id = newPathID()
			if err := s.apply(in, []kvop{{key: metaID, value: []byte(in.id)}}, pebble.Sync); err != nil {
				closeInstance(in, s.opts.StallTimeout)
				continue
			}
		}
		p.cur.Store(in)
		s.memMu.Lock()
		if s.closed.Load() {
			s.memMu.Unlock()
			return
		}
		cv := s.view.Load()
		s.view.Store(&view{epoch: cv.epoch, members: cv.members, verifying: cv.verifying, syncing: append(slices.Clone(cv.syncing), in)})
		s.memMu.Unlock()
		s.log.Info("flash: path reopened, re-synchronising", "path", p.dir)
		s.startResync(in, false)
	}
}

// startResync starts the comparison of in with the primary: a syncing
// path then joins the in-sync set, a verifying one stops verifying.
func (s *Store) startResync(in *instance, verify bool) {
	in.p.resyncing.Store(true)
	in.p.copied.Store(0)
	in.p.scanned.Store(0)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer s.kick()
		defer in.p.resyncing.Store(false)
		start := time.Now()
		if err := s.copyAll(in, verify); err != nil {
			s.log.Warn("flash: re-synchronisation stopped", "path", in.p.dir, "error", err.Error())
			return
		}
		ok := false
		if verify {
			ok = s.verified(in)
		} else {
			ok = s.join(in)
		}
		if ok {
			s.log.Info("flash: path back in sync", "path", in.p.dir, "compared", in.p.scanned.Load(),
				"repaired", in.p.copied.Load(), "took", time.Since(start).Round(time.Millisecond))
		}
	}()
}

// verified ends the verification of an in-sync path.
func (s *Store) verified(in *instance) bool {
	s.memMu.Lock()
	defer s.memMu.Unlock()
	v := s.view.Load()
	if s.closed.Load() || !slices.Contains(v.verifying, in) || in.failed() != nil {
		return false
	}
	s.view.Store(&view{epoch: v.epoch, members: v.members, syncing: v.syncing,
		verifying: slices.DeleteFunc(slices.Clone(v.verifying), func(x *instance) bool { return x == in })})
	return true
}

const resyncChunk = 256

// copyAll makes in's entries equal to the primary's. in receives every
// write from the moment it entered the view (under memMu), so once each
// key has been compared under its stripe lock, in stays equal to the
// primary for that key.
func (s *Store) copyAll(in *instance, verify bool) error {
	cursor := []byte{dataPrefix}
	end := []byte{dataPrefix + 1}
	for {
		if s.stopping() {
			return s.errClosed()
		}
		done, next, err := s.copyChunk(in, verify, cursor, end)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		cursor = next
	}
}

func (s *Store) copyChunk(in *instance, verify bool, cursor, end []byte) (done bool, next []byte, err error) {
	if !s.rlock() {
		return false, nil, s.errClosed()
	}
	defer s.memMu.RUnlock()
	v := s.view.Load()
	if (verify && !slices.Contains(v.verifying, in)) || (!verify && !slices.Contains(v.syncing, in)) {
		return false, nil, fmt.Errorf("%s left the view: %v", in.p.dir, in.failed())
	}
	if err := in.failed(); err != nil {
		return false, nil, err
	}
	src := v.primary()
	if src == nil {
		return false, nil, s.unavailable(v)
	}
	if src == in {
		return true, nil, nil // the best copy there is
	}
	keys, err := s.collectKeys(src, in, cursor, end)
	if err != nil {
		return false, cursor, nil // the failed side is poisoned: retried with the next view
	}
	if len(keys) == 0 {
		return true, nil, nil
	}
	stripes := make([]int, 0, len(keys))
	for _, k := range keys {
		stripes = append(stripes, s.stripeOf(k))
	}
	slices.Sort(stripes)
	stripes = slices.Compact(stripes)
	for _, i := range stripes {
		s.stripes[i].Lock()
	}
	defer func() {
		for _, i := range stripes {
			s.stripes[i].Unlock()
		}
	}()
	var ops []kvop
	for _, k := range keys {
		dk := dataKey(k)
		sraw, sok, err := s.get(src, dk)
		if err != nil {
			return false, cursor, nil
		}
		traw, tok, err := s.get(in, dk)
		if err != nil {
			return false, nil, err
		}
		var sr, tr record
		if sok {
			if sr, err = decodeHeader(sraw); err != nil {
				return false, nil, fmt.Errorf("source %s, key %q: %w", src.p.dir, k, err)
			}
		}
		if tok {
			if tr, err = decodeHeader(traw); err != nil {
				tok = false // unreadable on the target: rewrite it
				tr = record{}
			}
		}
		switch {
		case !sok && !tok:
			continue
		case sok && tok && sr.version == tr.version && sr.label == tr.label:
			continue
		case !sok:
			ops = append(ops, kvop{key: dk})
			if tr.label != "" {
				ops = append(ops, kvop{key: indexKey(tr.label, k)})
			}
		default:
			ops = append(ops, kvop{key: dk, value: sraw})
			if tok && tr.label != "" && tr.label != sr.label {
				ops = append(ops, kvop{key: indexKey(tr.label, k)})
			}
			if sr.label != "" && (!tok || tr.label != sr.label) {
				ops = append(ops, kvop{key: indexKey(sr.label, k), value: []byte{}})
			}
		}
		in.p.copied.Add(1)
	}
	in.p.scanned.Add(int64(len(keys)))
	if len(ops) > 0 {
		// Not synced: the membership record that ends the resync is.
		if err := s.apply(in, ops, pebble.NoSync); err != nil {
			return false, nil, err
		}
	}
	return false, append(dataKey(keys[len(keys)-1]), 0), nil
}

// collectKeys returns, in order, up to resyncChunk user keys in
// [cursor, end) present on a or b, with no key of either side missing
// below the last one returned.
func (s *Store) collectKeys(a, b *instance, cursor, end []byte) ([]string, error) {
	ka, fullA, err := s.keysFrom(a, cursor, end)
	if err != nil {
		return nil, err
	}
	kb, fullB, err := s.keysFrom(b, cursor, end)
	if err != nil {
		return nil, err
	}
	var bound []byte
	if fullA {
		bound = ka[len(ka)-1]
	}
	if fullB && (bound == nil || bytes.Compare(kb[len(kb)-1], bound) < 0) {
		bound = kb[len(kb)-1]
	}
	merged := make([]string, 0, len(ka)+len(kb))
	i, j := 0, 0
	for i < len(ka) || j < len(kb) {
		var k []byte
		switch {
		case j == len(kb) || (i < len(ka) && bytes.Compare(ka[i], kb[j]) < 0):
			k = ka[i]
			i++
		case i == len(ka) || bytes.Compare(kb[j], ka[i]) < 0:
			k = kb[j]
			j++
		default:
			k = ka[i]
			i++
			j++
		}
		if bound != nil && bytes.Compare(k, bound) > 0 {
			break
		}
		merged = append(merged, string(k[1:]))
	}
	return merged, nil
}

func (s *Store) keysFrom(in *instance, lower, upper []byte) (keys [][]byte, full bool, err error) {
	s.io.acquire()
	defer s.io.release()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("pebble: %v", r)
		}
		if err != nil {
			in.fail(err)
		}
	}()
	it, err := in.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return nil, false, err
	}
	defer it.Close()
	for ok := it.First(); ok && len(keys) < resyncChunk; ok = it.Next() {
		keys = append(keys, append([]byte(nil), it.Key()...))
	}
	return keys, len(keys) == resyncChunk, it.Error()
}

// join moves a re-synchronised path into the in-sync set.
func (s *Store) join(in *instance) bool {
	s.memMu.Lock()
	defer s.memMu.Unlock()
	v := s.view.Load()
	if s.closed.Load() || !slices.Contains(v.syncing, in) || in.failed() != nil {
		return false
	}
	members := append(healthy(v.members), in)
	slices.SortFunc(members, func(a, b *instance) int { return a.p.idx - b.p.idx })
	syncing := slices.DeleteFunc(slices.Clone(v.syncing), func(x *instance) bool { return x == in })
	nv := &view{epoch: v.epoch + 1, members: members, verifying: v.verifying, syncing: syncing}
	m := membership{epoch: nv.epoch, members: ids(members)}
	// The joining path also gets the high-water mark (it missed the
	// reservations made before it was reopened). s.hwm may lag behind a
	// reservation that reached the path already: never lower it.
	h := s.hwm.Load()
	if raw, ok, err := s.get(in, metaHWM); err == nil && ok && len(raw) == 8 {
		h = max(h, binary.BigEndian.Uint64(raw))
	}
	hwm := kvop{key: metaHWM, value: encodeHWM(h)}
	errs := forEach(members, func(x *instance) error {
		ops := []kvop{{key: metaState, value: encodeMembership(m)}}
		if x == in {
			ops = append(ops, hwm)
		}
		return s.apply(x, ops, pebble.Sync)
	})
	s.view.Store(nv)
	for _, err := range errs {
		if err != nil {
			s.removeFailedLocked()
			break
		}
	}
	return in.failed() == nil
}

// recover opens every path that is not open, picks the source (the path
// with the highest epoch), writes a new membership record and starts the
// re-synchronisation of the other paths. Used by Open, and when no path is
// left in sync.
func (s *Store) recover() error {
	if v := s.view.Load(); v != nil {
		// Runtime recovery: close everything and start over.
		s.memMu.Lock()
		s.view.Store(&view{epoch: v.epoch})
		s.memMu.Unlock()
		for _, p := range s.paths {
			if p.resyncing.Load() {
				return fmt.Errorf("%s: a re-synchronisation is still stopping", p.dir)
			}
		}
		for _, p := range s.paths {
			if in := p.cur.Swap(nil); in != nil {
				_ = closeInstance(in, s.opts.StallTimeout)
			}
		}
	}
	type opened struct {
		in *instance
		st pathState
	}
	var all []opened
	var failures []string
	for _, p := range s.paths {
		in, st, err := s.openPath(p)
		if errors.Is(err, ErrPathInUse) {
			// Another process writes this path: refuse the whole store
			// rather than run without it and re-sync it under that
			// process's feet.
			for _, o := range all {
				o.in.p.cur.Store(nil)
				_ = closeInstance(o.in, s.opts.StallTimeout)
			}
			return err
		}
		if err != nil {
			p.setErr(err)
			failures = append(failures, err.Error())
			s.log.Warn("flash: path does not open", "path", p.dir, "error", err.Error())
			continue
		}
		p.cur.Store(in)
		all = append(all, opened{in, st})
	}
	closeAll := func() {
		for _, o := range all {
			o.in.p.cur.Store(nil)
			_ = closeInstance(o.in, s.opts.StallTimeout)
		}
	}
	if len(all) == 0 {
		return fmt.Errorf("flash store: no path opens: %s: %w", strings.Join(failures, "; "), driver.ErrUnavailable)
	}
	n, need := len(s.paths), len(s.paths)-s.quorum+1
	var src *opened
	stateful := 0
	for i := range all {
		o := &all[i]
		if o.st.has && o.st.m.epoch >= 1 {
			stateful++
			// The highest epoch; among equals, one closed cleanly.
			if src == nil || o.st.m.epoch > src.st.m.epoch || (o.st.m.epoch == src.st.m.epoch && o.st.m.clean && !src.st.m.clean) {
				src = o
			}
		}
	}
	var hwm uint64
	for _, o := range all {
		hwm = max(hwm, o.st.hwm)
	}
	var inSync, verifying, syncing []*instance
	epoch := uint64(1)
	switch {
	case src == nil:
		// A new store (or one whose first open never finished): every
		// path that opened is in sync. Phase 1 gives each path its id
		// (epoch 0), so that a crash before phase 2 completes is seen as
		// such on the next open.
		for _, o := range all {
			if o.in.id == "" {
				o.in.id = newPathID()
			}
			inSync = append(inSync, o.in)
		}
		if !s.opts.ReadOnly {
			m0 := membership{epoch: 0, members: ids(inSync)}
			for _, err := range s.writeMembership(inSync, m0) {
				if err != nil {
					closeAll()
					return fmt.Errorf("flash store: initialise: %w", err)
				}
			}
		}
	default:
		// The first membership write of a new store did not reach every
		// path (a path of its record is still at epoch 0): no write was
		// ever acknowledged, so the quorum rule below does not apply.
		firstIncomplete := false
		if src.st.m.epoch == 1 {
			for _, o := range all {
				if o.in.id != "" && src.st.m.has(o.in.id) && (!o.st.has || o.st.m.epoch == 0) {
					firstIncomplete = true
				}
			}
		}
		if stateful < need && !firstIncomplete {
			closeAll()
			return fmt.Errorf("flash store: only %d of %d paths hold the store's state and opened; with write_quorum %d, %d are needed to be sure that no acknowledged write is missing (%s): %w",
				stateful, n, s.quorum, need, strings.Join(failures, "; "), driver.ErrUnavailable)
		}
		// The paths of the source's record hold every acknowledged write
		// (each write reached all of them, or the record would not list
		// them). After a clean close they are equal to the source; after a
		// crash they may differ on the writes in flight, and are verified.
		epoch = src.st.m.epoch + 1
		inSync = append(inSync, src.in)
		for _, o := range all {
			switch {
			case o.in == src.in:
			case o.in.id != "" && src.st.m.has(o.in.id):
				inSync = append(inSync, o.in)
				if !src.st.m.clean || !o.st.m.clean || o.st.m.epoch != src.st.m.epoch {
					verifying = append(verifying, o.in)
				}
			default:
				if o.in.id == "" {
					o.in.id = newPathID()
				}
				syncing = append(syncing, o.in)
			}
		}
		slices.SortFunc(inSync, func(a, b *instance) int { return a.p.idx - b.p.idx })
		if !src.st.m.clean {
			s.log.Warn("flash: the store was not closed cleanly; verifying the other paths against the source", "source", src.in.p.dir, "paths", len(verifying))
		}
	}
	if s.opts.ReadOnly {
		for _, in := range syncing {
			in.p.cur.Store(nil)
			_ = closeInstance(in, s.opts.StallTimeout)
		}
		s.next.Store(hwm)
		s.hwm.Store(hwm)
		// Read-only: only the source is read.
		for _, in := range verifying {
			in.p.cur.Store(nil)
			_ = closeInstance(in, s.opts.StallTimeout)
		}
		s.view.Store(&view{epoch: epoch - 1, members: []*instance{src0(inSync, verifying)}})
		return nil
	}
	m := membership{epoch: epoch, members: ids(inSync)}
	s.writeMembership(inSync, m)
	for _, in := range syncing {
		_ = s.apply(in, []kvop{{key: metaID, value: []byte(in.id)}}, pebble.Sync)
	}
	s.next.Store(hwm)
	s.hwm.Store(hwm)
	s.memMu.Lock()
	s.view.Store(&view{epoch: epoch, members: inSync, verifying: verifying, syncing: syncing})
	s.removeFailedLocked()
	v := s.view.Load()
	s.memMu.Unlock()
	if len(v.members) == 0 {
		closeAll()
		var errs []string
		for _, o := range all {
			if err := o.in.failed(); err != nil {
				errs = append(errs, o.in.p.dir+": "+err.Error())
			}
		}
		return fmt.Errorf("flash store: no path accepts writes: %s: %w", strings.Join(errs, "; "), driver.ErrUnavailable)
	}
	for _, in := range v.verifying {
		s.startResync(in, true)
	}
	for _, in := range v.syncing {
		s.startResync(in, false)
	}
	return nil
}

// src0 is the one in-sync path that is not verifying (the source).
func src0(inSync, verifying []*instance) *instance {
	for _, in := range inSync {
		if !slices.Contains(verifying, in) {
			return in
		}
	}
	return inSync[0]
}

// HealthCheck reports Healthy when every path is in sync, Degraded when
// fewer are but at least write_quorum (naming each path that is not, and
// why), Unhealthy below write_quorum or once closed.
func (s *Store) HealthCheck(ctx context.Context) driver.Health {
	if s.closed.Load() {
		return driver.Health{Status: driver.Unhealthy, Reason: "flash store is closed"}
	}
	v := s.view.Load()
	var reasons []string
	for _, p := range s.paths {
		in := p.cur.Load()
		switch {
		case in != nil && slices.Contains(v.verifying, in) && in.failed() == nil:
			reasons = append(reasons, fmt.Sprintf("path %s: in sync, being verified after an unclean shutdown (%d entries compared, %d repaired)", p.dir, p.scanned.Load(), p.copied.Load()))
		case in != nil && slices.Contains(v.members, in) && in.failed() == nil:
			continue
		case in != nil && slices.Contains(v.syncing, in) && in.failed() == nil:
			reasons = append(reasons, fmt.Sprintf("path %s: re-synchronising (%d entries compared, %d repaired)", p.dir, p.scanned.Load(), p.copied.Load()))
		default:
			reasons = append(reasons, fmt.Sprintf("path %s: failed: %s (retried every %s)", p.dir, p.errText(), s.opts.RetryInterval))
		}
	}
	live := v.live()
	switch {
	case live < s.quorum:
		return driver.Health{Status: driver.Unhealthy, Reason: fmt.Sprintf("%d of %d paths in sync, write_quorum %d: %s", live, len(s.paths), s.quorum, strings.Join(reasons, "; "))}
	case len(reasons) > 0:
		return driver.Health{Status: driver.Degraded, Reason: fmt.Sprintf("%d of %d paths in sync: %s", live, len(s.paths), strings.Join(reasons, "; "))}
	}
	return driver.Health{Status: driver.Healthy}
}
