package memory_test

import (
	"context"
	"testing"

	"github.com/orbit-go/orbit/persistence/driver"
	"github.com/orbit-go/orbit/persistence/memory"
)

// copyStore copies every entry of src into dst (benchmark setup).
func copyStore(tb testing.TB, src, dst *memory.Store) {
	tb.Helper()
	after := ""
	for {
		page, err := src.List(context.Background(), "", driver.ListOptions{StartAfter: after, Limit: 10000})
		if err != nil {
			tb.Fatal(err)
		}
		for _, e := range page.Entries {
			if _, err := dst.Put(context.Background(), e.Key, e.Value, driver.Unconditional()); err != nil {
				tb.Fatal(err)
			}
		}
		if !page.More {
			return
		}
		after = page.Entries[len(page.Entries)-1].Key
	}
}
