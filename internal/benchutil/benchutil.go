// Package benchutil holds what the providers' benchmarks share. Import it
// from _test.go files only.
package benchutil

import (
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// Parallelism is the goroutines per CPU of RunParallel (16 on 2 cores).
const Parallelism = 8

// RunParallel runs fn b.N times from Parallelism×GOMAXPROCS goroutines and
// reports ops/s. Goroutine w of W calls fn with w, w+W, w+2W, ... modulo
// keys, so that no two goroutines work on the same key index at once (a
// key is never raced by two writers of the benchmark itself). The first
// error stops the goroutine that got it and fails the benchmark.
func RunParallel(b *testing.B, keys int, fn func(i int) error) {
	var workers atomic.Int64
	b.SetParallelism(Parallelism)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		w := int(workers.Add(1)) - 1
		i := w
		for pb.Next() {
			if err := fn(i % keys); err != nil {
				b.Error(err)
				return
			}
			i += Parallelism * runtime.GOMAXPROCS(0)
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "ops/s")
}
