package main

import (
	"math"
	"math/bits"
	"time"
)

// histogram is a log-bucketed latency histogram in the manner of HDR
// histograms: values (nanoseconds) below 256 have exact buckets, larger ones
// fall into 128 linear sub-buckets per power of two, so a reported
// percentile is within 1/128 (0.8%) of the true value. Values above
// maxTracked (about 18 minutes) share the top bucket; min, max and the mean
// stay exact. Recording is O(1) and allocation-free; a histogram is not safe
// for concurrent use (each worker keeps its own and they are merged).
//
// It is written here rather than imported because
// github.com/HdrHistogram/hdrhistogram-go is not among the modules this
// project can fetch, and adding a dependency would change go.mod, which this
// tool does not own; the ~60 lines below are all it needs.
type histogram struct {
	counts []uint64
	total  uint64
	sum    float64
	min    int64
	max    int64
}

const (
	subBits    = 7
	subCount   = 1 << subBits // sub-buckets per power of two
	maxExp     = 33           // largest shift: values up to 2^(33+8) ns
	maxTracked = int64(1)<<(maxExp+subBits+1) - 1
	numBuckets = maxExp*subCount + 2*subCount
)

func newHistogram() *histogram {
	return &histogram{counts: make([]uint64, numBuckets), min: math.MaxInt64}
}

// bucket returns v's bucket: v itself below 256, else e*128 + (v >> e)
// where e is chosen so that v >> e is in [128, 256).
func bucket(v int64) int {
	if v < 2*subCount {
		return int(v)
	}
	e := bits.Len64(uint64(v)) - subBits - 1
	return e*subCount + int(v>>uint(e))
}

// bucketHigh is the largest value that falls into bucket i.
func bucketHigh(i int) int64 {
	if i < 2*subCount {
		return int64(i)
	}
	e := i/subCount - 1
	m := int64(i - e*subCount)
	return (m+1)<<uint(e) - 1
}

// record adds one value; negative values count as 0.
func (h *histogram) record(d time.Duration) { h.recordN(d, 1) }

// recordN adds the same value n times (the references of one batch call,
// each of which waited for the whole call).
func (h *histogram) recordN(d time.Duration, n int) {
	v := max(int64(d), 0)
	h.total += uint64(n)
	h.sum += float64(v) * float64(n)
	h.min = min(h.min, v)
	h.max = max(h.max, v)
	h.counts[bucket(min(v, maxTracked))] += uint64(n)
}

// merge adds o's values to h.
func (h *histogram) merge(o *histogram) {
	if o == nil || o.total == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.total += o.total
	h.sum += o.sum
	h.min = min(h.min, o.min)
	h.max = max(h.max, o.max)
}

// quantile returns the value below or at which q (0..1) of the values lie:
// the highest value of the bucket holding that rank, capped at the true
// maximum (the maximum itself for the overflow bucket). It is 0 for an empty histogram.
func (h *histogram) quantile(q float64) time.Duration {
	if h.total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.total)))
	rank = min(max(rank, 1), h.total)
	var seen uint64
	for i, c := range h.counts {
		if seen += c; seen >= rank {
			if i == numBuckets-1 { // the overflow bucket: only the max is known
				return time.Duration(h.max)
			}
			return time.Duration(min(bucketHigh(i), h.max))
		}
	}
	return time.Duration(h.max)
}

// mean returns the exact mean (0 when empty).
func (h *histogram) mean() time.Duration {
	if h.total == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.total))
}

// minimum returns the smallest value (0 when empty).
func (h *histogram) minimum() time.Duration {
	if h.total == 0 {
		return 0
	}
	return time.Duration(h.min)
}
