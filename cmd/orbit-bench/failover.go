package main

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/orbit-go/orbit/client"
	"github.com/orbit-go/orbit/persistence"
)

// runFailover joins two nodes, places cfg.keys addressables, stops the
// renewals of the node holding most of them without leaving (a simulated
// crash), and polls LocateOrPlace until every addressable of that node is
// re-placed on another node, or cfg.failoverTimeout passes.
func runFailover(ctx context.Context, cfg benchConfig, out io.Writer) (failoverResult, error) {
	b := &bench{cfg: cfg, out: out, runID: newRunID()}
	defer b.close()
	setupCtx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	if err := b.connect(setupCtx, 2); err != nil {
		return failoverResult{}, err
	}
	fmt.Fprintf(out, "placing %d addressables of type %s on 2 nodes...\n", cfg.keys, cfg.typ)
	if err := b.preplace(setupCtx, cfg.keys); err != nil {
		return failoverResult{}, err
	}
	counts := make(map[persistence.NodeID]int)
	for _, l := range b.initial {
		counts[l.Node]++
	}
	var victim *client.Node
	for id, n := range b.nodes {
		if victim == nil || counts[id] > counts[victim.ID()] {
			victim = n
		}
	}
	var remaining []persistence.AddressableReference
	for _, l := range b.initial {
		if l.Node == victim.ID() {
			remaining = append(remaining, l.Reference)
		}
	}
	res := failoverResult{keys: cfg.keys, onVictim: len(remaining), errs: map[string]uint64{}}
	if len(remaining) == 0 {
		return res, fmt.Errorf("none of the %d addressables was placed on our nodes (other nodes host type %s?)", cfg.keys, cfg.typ)
	}

	fmt.Fprintf(out, "stopping the renewals of node %s (holds %d addressables) and polling...\n", victim.ID(), len(remaining))
	stop := time.Now()
	res.leaseLeft = victim.Lease().ExpiresAt.Sub(stop)
	victim.Detach()
	deadline := stop.Add(cfg.failoverTimeout)
	pollCtx, cancelPoll := context.WithDeadline(ctx, deadline)
	defer cancelPoll()
	defer func() {
		for _, l := range b.lostNodes() {
			fmt.Fprintf(out, "warning: fake node lost its lease during the run: %s\n", l)
		}
	}()
	for len(remaining) > 0 {
		remaining = b.pollRound(pollCtx, victim.ID(), remaining, stop, &res)
		if len(remaining) == 0 {
			break
		}
		if pollCtx.Err() != nil || !sleepUntil(pollCtx, time.Now().Add(cfg.pollInterval)) {
			if ctx.Err() != nil {
				return res, fmt.Errorf("interrupted: %w", ctx.Err())
			}
			return res, fmt.Errorf("timed out after %s: %d of %d addressables not re-placed",
				cfg.failoverTimeout, len(remaining), res.onVictim)
		}
	}
	return res, nil
}

// pollRound calls LocateOrPlace once for each remaining reference (with up
// to cfg.concurrency in parallel) and returns those still on the victim.
func (b *bench) pollRound(ctx context.Context, victim persistence.NodeID, refs []persistence.AddressableReference,
	stop time.Time, res *failoverResult) []persistence.AddressableReference {
	movedAt := make([]time.Duration, len(refs)) // 0 = not moved
	errCodes := make([]string, len(refs))
	workers := min(b.cfg.concurrency, len(refs))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(refs); i += workers {
				l, _, err := b.c.LocateOrPlace(ctx, refs[i])
				switch {
				case err != nil:
					if ctx.Err() == nil {
						errCodes[i] = errorCode(err)
					}
				case l.Node != victim:
					movedAt[i] = max(time.Since(stop), time.Nanosecond)
				}
			}
		})
	}
	wg.Wait()
	var still []persistence.AddressableReference
	for i, ref := range refs {
		res.polls++
		if errCodes[i] != "" {
			res.errs[errCodes[i]]++
		}
		if movedAt[i] == 0 {
			still = append(still, ref)
			continue
		}
		res.moved++
		if res.first == 0 || movedAt[i] < res.first {
			res.first = movedAt[i]
		}
		res.last = max(res.last, movedAt[i])
	}
	return still
}

// sleepUntil waits until t; false if ctx ended first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}
