package persistence

import (
	"context"
	"sync"

	"golang.org/x/sync/errgroup"
)

// runBulk runs fn for items 0..n-1, at most conc at a time, and returns a
// *BulkError naming every item that failed (the others were applied).
func runBulk(ctx context.Context, conc, n int, fn func(context.Context, int) error) error {
	var (
		g        errgroup.Group // fn's errors are collected per item, never returned to g
		mu       sync.Mutex
		failures map[int]error
	)
	g.SetLimit(max(conc, 1))
	for i := range n {
		g.Go(func() error {
			if err := fn(ctx, i); err != nil {
				mu.Lock()
				if failures == nil {
					failures = map[int]error{}
				}
				failures[i] = err
				mu.Unlock()
			}
			return nil
		})
	}
	_ = g.Wait() // every func returns nil
	if failures != nil {
		return &BulkError{Total: n, Failures: failures}
	}
	return nil
}
