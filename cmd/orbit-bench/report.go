package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
)

// result is the outcome of a load run.
type result struct {
	mode        string
	concurrency int
	nodes       int
	elapsed     time.Duration
	all         *histogram
	byOp        [numOps]*histogram
	errs        map[string]uint64
	nodesLost   []string // fake nodes that lost their lease, with the reason
}

func (r result) errorCount() uint64 {
	var n uint64
	for _, c := range r.errs {
		n += c
	}
	return n
}

func (r result) opsPerSec() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.all.total) / r.elapsed.Seconds()
}

func us(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d)/float64(time.Microsecond)) }

// latencyLine renders a histogram's percentiles for people.
func latencyLine(h *histogram) string {
	return fmt.Sprintf("p50=%s p99=%s p999=%s min=%s mean=%s max=%s",
		h.quantile(0.50), h.quantile(0.99), h.quantile(0.999), h.minimum(), h.mean(), time.Duration(h.max))
}

// errorsByCode renders "Code=n,Code=n" in code order ("none" if empty).
func errorsByCode(errs map[string]uint64) string {
	if len(errs) == 0 {
		return "none"
	}
	codes := slices.Sorted(maps.Keys(errs))
	parts := make([]string, len(codes))
	for i, c := range codes {
		parts[i] = fmt.Sprintf("%s=%d", c, errs[c])
	}
	return strings.Join(parts, ",")
}

// print writes the human summary and, last, the RESULT line:
//
//	RESULT mode=M ops=N duration_s=S ops_per_sec=R p50_us=A p99_us=B p999_us=C max_us=D errors=E concurrency=W nodes=K
//
// Keys and their order are stable; durations are in microseconds.
func (r result) print(w io.Writer) {
	fmt.Fprintf(w, "mode %s: %d ops in %.3fs = %.1f ops/s (%d workers, %d nodes)\n",
		r.mode, r.all.total, r.elapsed.Seconds(), r.opsPerSec(), r.concurrency, r.nodes)
	fmt.Fprintf(w, "latency: %s\n", latencyLine(r.all))
	if r.mode == modeMixed {
		for k, h := range r.byOp {
			fmt.Fprintf(w, "  %-6s %8d ops  %s\n", opNames[k], h.total, latencyLine(h))
		}
	}
	fmt.Fprintf(w, "errors: %d (%s)\n", r.errorCount(), errorsByCode(r.errs))
	for _, l := range r.nodesLost {
		fmt.Fprintf(w, "warning: fake node lost its lease during the run: %s\n", l)
	}
	fmt.Fprintf(w, "RESULT mode=%s ops=%d duration_s=%.3f ops_per_sec=%.1f p50_us=%s p99_us=%s p999_us=%s max_us=%s errors=%d concurrency=%d nodes=%d\n",
		r.mode, r.all.total, r.elapsed.Seconds(), r.opsPerSec(),
		us(r.all.quantile(0.50)), us(r.all.quantile(0.99)), us(r.all.quantile(0.999)), us(time.Duration(r.all.max)),
		r.errorCount(), r.concurrency, r.nodes)
}

// failoverResult is the outcome of --measure-failover.
type failoverResult struct {
	keys      int           // addressables placed
	onVictim  int           // of which on the node that stopped renewing
	moved     int           // of those, re-placed on another node
	first     time.Duration // stop → first re-placement
	last      time.Duration // stop → last re-placement (the failover time)
	leaseLeft time.Duration // time left on the victim's node lease at the stop
	polls     int           // LocateOrPlace calls while polling
	errs      map[string]uint64
}

// print writes the summary and the RESULT line:
//
//	RESULT mode=failover keys=N on_victim=V moved=M seconds=S first_s=F lease_left_s=L polls=P errors=E
func (f failoverResult) print(w io.Writer) {
	fmt.Fprintf(w, "failover: %d of %d addressables were on the stopped node; %d re-placed\n", f.onVictim, f.keys, f.moved)
	fmt.Fprintf(w, "the node lease had %.3fs left when renewal stopped; first re-placement after %.3fs, last after %.3fs\n",
		f.leaseLeft.Seconds(), f.first.Seconds(), f.last.Seconds())
	var n uint64
	for _, c := range f.errs {
		n += c
	}
	fmt.Fprintf(w, "polls: %d, errors: %d (%s)\n", f.polls, n, errorsByCode(f.errs))
	fmt.Fprintf(w, "RESULT mode=failover keys=%d on_victim=%d moved=%d seconds=%.3f first_s=%.3f lease_left_s=%.3f polls=%d errors=%d\n",
		f.keys, f.onVictim, f.moved, f.last.Seconds(), f.first.Seconds(), f.leaseLeft.Seconds(), f.polls, n)
}
