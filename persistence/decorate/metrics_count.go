package decorate

import (
	"context"

	"github.com/orbit-go/orbit/persistence/driver"
)

// CountPrefix is driver.Counter, measured as one list operation. It
// answers an error that Is driver.ErrUnsupported when the inner store does
// not count (without the narrowing of Full, see HasCounter, the method is
// present on every Metrics).
func (m *Metrics) CountPrefix(ctx context.Context, prefix string) (int64, error) {
	c, ok := m.inner.(driver.Counter)
	if !ok {
		return 0, m.unsupported("count")
	}
	t := m.begin()
	n, err := c.CountPrefix(ctx, prefix)
	m.done(m.ops[idxList], t, err)
	return n, err
}

// HasCounter reports whether the measured store counts (driver.Counter).
// It is what a type assertion on the narrowed store would answer once the
// combinations of narrow.go include the count capability.
func (m *Metrics) HasCounter() bool {
	_, ok := m.inner.(driver.Counter)
	return ok
}
