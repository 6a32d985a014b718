package persistence

import (
	"context"
	"sync"
)

// runBulk runs fn for items 0..n-1 with at most conc in parallel.
func runBulk(ctx context.Context, conc, n int, fn func(context.Context, int) error) error {
	if n == 0 {
		return nil
	}
	if conc > n {
		conc = n
	}
	var (
		mu       sync.Mutex
		failures map[int]error
		wg       sync.WaitGroup
		next     = make(chan int)
	)
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := fn(ctx, i); err != nil {
					mu.Lock()
					if failures == nil {
						failures = map[int]error{}
					}
					failures[i] = err
					mu.Unlock()
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	if failures != nil {
		return &BulkError{Total: n, Failures: failures}
	}
	return nil
}
