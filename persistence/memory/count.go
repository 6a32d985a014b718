package memory

import (
	"context"
	"sort"
	"strings"

	"github.com/tidwall/btree"

	"github.com/orbit-go/orbit/persistence/driver"
)

var _ driver.Counter = (*Store)(nil)

// CountPrefix counts the keys under prefix (driver.Counter) without
// visiting them: the ordered key tree keeps the size of every subtree, so
// the rank of the first key at or after prefix and of the first key past
// it are found by two binary searches over positions, O(log² n) in all,
// under the tree's read lock (writers wait microseconds, not a scan).
func (s *Store) CountPrefix(ctx context.Context, prefix string) (int64, error) {
	if err := s.checkOpen(); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.treeMu.RLock()
	defer s.treeMu.RUnlock()
	return countPrefix(s.tree, prefix), nil
}

// countPrefix returns how many keys of t start with prefix. The keys with
// the prefix are contiguous in key order and at or after prefix itself.
func countPrefix(t *btree.BTreeG[*keyRef], prefix string) int64 {
	n := t.Len()
	if prefix == "" {
		return int64(n)
	}
	keyAt := func(i int) string {
		ref, _ := t.GetAt(i)
		return ref.key()
	}
	// first: the first position whose key is >= prefix.
	first := sort.Search(n, func(i int) bool { return keyAt(i) >= prefix })
	// end: the first position at or after first whose key lacks the prefix.
	end := first + sort.Search(n-first, func(i int) bool { return !strings.HasPrefix(keyAt(first+i), prefix) })
	return int64(end - first)
}
