package persistence

import (
	"context"
	"fmt"

	"github.com/orbit-go/orbit/persistence/driver"
)

// Paging through every entry under a prefix, for both directories.

// forEach visits every entry under prefix, page by page.
func (a *addressables) forEach(ctx context.Context, prefix string, fn func(driver.Entry) error) error {
	return forEachEntry(ctx, a.kv.store, prefix, fn)
}

func forEachEntry(ctx context.Context, s driver.Store, prefix string, fn func(driver.Entry) error) error {
	after := ""
	for {
		page, err := s.List(ctx, prefix, driver.ListOptions{StartAfter: after, Limit: DefaultPageSize})
		if err != nil {
			return fmt.Errorf("list %q: %w", prefix, err)
		}
		for _, e := range page.Entries {
			if err := fn(e); err != nil {
				return err
			}
			after = e.Key
		}
		if !page.More || len(page.Entries) == 0 {
			return nil
		}
	}
}
