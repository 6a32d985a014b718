package persistence

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
)

// BulkError reports the items of a bulk operation that failed; the others
// were applied. Failures maps the item's index in the input to its error.
type BulkError struct {
	Total    int
	Failures map[int]error
}

func (e *BulkError) Error() string {
	idx := make([]int, 0, len(e.Failures))
	for i := range e.Failures {
		idx = append(idx, i)
	}
	sort.Ints(idx)
	var b strings.Builder
	fmt.Fprintf(&b, "%d of %d bulk items failed", len(idx), e.Total)
	for n, i := range idx {
		if n == 3 {
			fmt.Fprintf(&b, "; and %d more", len(idx)-3)
			break
		}
		fmt.Fprintf(&b, "; item %d: %v", i, e.Failures[i])
	}
	return b.String()
}

// Unwrap returns the item errors, so errors.Is sees their codes.
func (e *BulkError) Unwrap() []error {
	out := make([]error, 0, len(e.Failures))
	for _, err := range e.Failures {
		out = append(out, err)
	}
	return out
}

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
