package composite

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/orbit-go/orbit/persistence/driver"
)

// lazyStore stands for a side that could not be opened because its backend
// was unreachable: every call tries to open it again (at most once per
// retry interval) and fails with ErrUnavailable until it opens. It lets a
// server start on the backup while the primary is down.
type lazyStore struct {
	open  func(ctx context.Context) (driver.Store, error)
	retry time.Duration
	what  string

	mu      sync.Mutex
	st      driver.Store
	lastErr error
	last    time.Time
	closed  bool
}

func newLazyStore(what string, first error, retry time.Duration, open func(ctx context.Context) (driver.Store, error)) *lazyStore {
	return &lazyStore{open: open, retry: retry, what: what, lastErr: first, last: time.Now()}
}

// store returns the opened store, opening it if due.
func (l *lazyStore) store(ctx context.Context) (driver.Store, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, fmt.Errorf("%s: %w", l.what, driver.ErrClosed)
	}
	if l.st != nil {
		return l.st, nil
	}
	if time.Since(l.last) >= l.retry {
		l.last = time.Now()
		st, err := l.open(ctx)
		if err == nil {
			l.st = st
			return st, nil
		}
		l.lastErr = err
	}
	return nil, fmt.Errorf("%s is not open yet: %v: %w", l.what, l.lastErr, driver.ErrUnavailable)
}

func (l *lazyStore) Get(ctx context.Context, key string) (driver.Entry, error) {
	st, err := l.store(ctx)
	if err != nil {
		return driver.Entry{}, err
	}
	return st.Get(ctx, key)
}

func (l *lazyStore) Put(ctx context.Context, key string, value []byte, cond driver.Condition) (driver.Version, error) {
	st, err := l.store(ctx)
	if err != nil {
		return driver.Version{}, err
	}
	return st.Put(ctx, key, value, cond)
}

func (l *lazyStore) Delete(ctx context.Context, key string, cond driver.Condition) error {
	st, err := l.store(ctx)
	if err != nil {
		return err
	}
	return st.Delete(ctx, key, cond)
}

func (l *lazyStore) List(ctx context.Context, prefix string, opts driver.ListOptions) (driver.ListPage, error) {
	st, err := l.store(ctx)
	if err != nil {
		return driver.ListPage{}, err
	}
	return st.List(ctx, prefix, opts)
}

// HealthCheck reports Unhealthy until the store opens, then its own
// health check (or a probe read).
func (l *lazyStore) HealthCheck(ctx context.Context) driver.Health {
	st, err := l.store(ctx)
	if err != nil {
		return driver.Health{Status: driver.Unhealthy, Reason: err.Error()}
	}
	if hc, ok := st.(driver.HealthChecker); ok {
		return hc.HealthCheck(ctx)
	}
	if _, err := st.Get(ctx, probeKey); err != nil && !errors.Is(err, driver.ErrNotFound) {
		return driver.Health{Status: driver.Unhealthy, Reason: "probe read failed: " + err.Error()}
	}
	return driver.Health{Status: driver.Healthy}
}

func (l *lazyStore) Close(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return fmt.Errorf("%s: %w", l.what, driver.ErrClosed)
	}
	l.closed = true
	if l.st != nil {
		return l.st.Close(ctx)
	}
	return nil
}
