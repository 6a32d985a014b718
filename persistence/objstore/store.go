package objstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/orbit-go/orbit/persistence/driver"
)

// Defaults of Options.
const (
	DefaultTombstoneRetention = 10 * time.Minute
	DefaultReadConcurrency    = 16
	DefaultCacheEntries       = 16384
	// listPage is the most objects one Bucket.List call asks for (the S3
	// maximum).
	listPage = 1000
	// maxAttempts bounds the re-reads of one operation that keeps seeing
	// its chain move under it.
	maxAttempts = 8
)

// Options configure a Store.
type Options struct {
	// Prefix is prepended to every object name ("orbit/" keeps Orbit's
	// objects under one folder of a shared bucket); may be empty.
	Prefix string
	// TombstoneRetention is how long the last object of a deleted key is
	// kept before the key's storage is reclaimed; see the package
	// documentation for what it bounds. 0 means DefaultTombstoneRetention.
	TombstoneRetention time.Duration
	// ReadConcurrency bounds the parallel object reads of one List page.
	ReadConcurrency int
	// CacheEntries bounds the cache of object bodies (objects never change,
	// so a cached body is never stale); negative disables it.
	CacheEntries int
	// Describe names the bucket in error messages ("s3 bucket \"b\" at
	// http://host:9000"); never a secret.
	Describe string
}

// Store is a driver.Store on a Bucket. It is safe for concurrent use.
type Store struct {
	b      Bucket
	o      Options
	cache  *bodyCache
	gc     *collector
	closed atomic.Bool
	mu     sync.Mutex // guards closing
}

var (
	_ driver.Store         = (*Store)(nil)
	_ driver.HealthChecker = (*Store)(nil)
	_ driver.CacheStatser  = (*Store)(nil)
)

// New returns a Store on b. The Store owns b: Close closes it.
func New(b Bucket, o Options) *Store {
	if o.TombstoneRetention <= 0 {
		o.TombstoneRetention = DefaultTombstoneRetention
	}
	if o.ReadConcurrency <= 0 {
		o.ReadConcurrency = DefaultReadConcurrency
	}
	if o.CacheEntries == 0 {
		o.CacheEntries = DefaultCacheEntries
	}
	if o.Describe == "" {
		o.Describe = "bucket"
	}
	s := &Store{b: b, o: o, cache: newBodyCache(o.CacheEntries)}
	s.gc = newCollector(s)
	return s
}

func (s *Store) checkOpen() error {
	if s.closed.Load() {
		return fmt.Errorf("%s: %w", s.o.Describe, driver.ErrClosed)
	}
	return nil
}

// chainPrefix returns prefix+enc(key)+sep, checking that the names of the
// key's objects fit the services' limit.
func (s *Store) chainPrefix(key string) (string, error) {
	b := make([]byte, 0, len(s.o.Prefix)+len(key)+len(sep)+8)
	b = append(b, s.o.Prefix...)
	b = encodeKey(b, key)
	b = append(b, sep...)
	if len(b)+hexDigits+1+hexDigits > MaxNameLen {
		return "", fmt.Errorf("key %q: object names would be %d bytes, more than %d: %w", key, len(b)+suffixLen-len(sep), MaxNameLen, driver.ErrInvalidArgument)
	}
	return string(b), nil
}

// readChain lists the objects of one key.
func (s *Store) readChain(ctx context.Context, key, cp string) (*chain, error) {
	c := &chain{key: key}
	after := ""
	for {
		page, err := s.b.List(ctx, cp, after, listPage)
		if err != nil {
			return nil, err
		}
		if c.serverTime.IsZero() {
			c.serverTime = page.ServerTime
		}
		for _, o := range page.Objects {
			_, seq, pred, err := parseName(o.Name[len(s.o.Prefix):])
			if err != nil {
				continue // not ours: ignored, never deleted
			}
			c.links = append(c.links, link{Object: o, seq: seq, pred: pred, tomb: o.Size == int64(tombSize)})
		}
		if !page.More || len(page.Objects) == 0 {
			return c, nil
		}
		after = page.Objects[len(page.Objects)-1].Name
	}
}

// readValue returns the value of a listed value object (from the cache
// when possible).
func (s *Store) readValue(ctx context.Context, l *link) ([]byte, error) {
	if v, ok := s.cache.get(l.Name, l.ETag); ok {
		return v, nil
	}
	body, etag, err := s.b.Read(ctx, l.Name)
	if err != nil {
		return nil, err
	}
	if etag != l.ETag {
		// Replaced since the listing: only a stale writer can re-create a
		// name, so the listed object is gone.
		return nil, fmt.Errorf("object %q changed since it was listed: %w", l.Name, driver.ErrNotFound)
	}
	v, tomb, err := decodeBody(l.Name, body)
	if err != nil {
		return nil, err
	}
	if tomb {
		return nil, fmt.Errorf("object %q: a tombstone where a value was listed: %w", l.Name, driver.ErrCorrupt)
	}
	s.cache.put(l.Name, l.ETag, v)
	return v, nil
}

// Get returns the current value of key.
func (s *Store) Get(ctx context.Context, key string) (driver.Entry, error) {
	if err := s.checkOpen(); err != nil {
		return driver.Entry{}, err
	}
	cp, err := s.chainPrefix(key)
	if err != nil {
		return driver.Entry{}, err
	}
	for attempt := 0; ; attempt++ {
		c, err := s.readChain(ctx, key, cp)
		if err != nil {
			return driver.Entry{}, fmt.Errorf("get %q: %w", key, err)
		}
		s.gc.consider(c, cp)
		h, ok := c.live()
		if !ok {
			return driver.Entry{}, fmt.Errorf("get %q: %w", key, driver.ErrNotFound)
		}
		v, err := s.readValue(ctx, &c.links[h])
		if errors.Is(err, driver.ErrNotFound) && attempt < maxAttempts {
			continue // replaced and collected since the listing
		}
		if err != nil {
			return driver.Entry{}, fmt.Errorf("get %q: %w", key, err)
		}
		return driver.Entry{Key: key, Value: v, Version: versionOf(&c.links[h])}, nil
	}
}

// Put writes value under key if cond holds.
func (s *Store) Put(ctx context.Context, key string, value []byte, cond driver.Condition) (driver.Version, error) {
	if err := s.checkOpen(); err != nil {
		return driver.Version{}, err
	}
	cp, err := s.chainPrefix(key)
	if err != nil {
		return driver.Version{}, err
	}
	v, err := s.apply(ctx, key, cp, encodeValue(value), value, cond)
	if err != nil {
		return driver.Version{}, fmt.Errorf("put %q (%s): %w", key, cond, err)
	}
	return v, nil
}

// Delete removes key if cond holds, by writing a tombstone.
func (s *Store) Delete(ctx context.Context, key string, cond driver.Condition) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	cp, err := s.chainPrefix(key)
	if err != nil {
		return err
	}
	if _, err := s.apply(ctx, key, cp, encodeTomb(), nil, cond); err != nil {
		if errors.Is(err, errAlreadyAbsent) {
			return nil
		}
		return fmt.Errorf("delete %q (%s): %w", key, cond, err)
	}
	return nil
}

var errAlreadyAbsent = errors.New("already absent")

// apply writes body (a value, or a tombstone when value is nil) as the
// next object of key's chain under cond.
func (s *Store) apply(ctx context.Context, key, cp string, body, value []byte, cond driver.Condition) (driver.Version, error) {
	tomb := value == nil
	switch cond.Kind {
	case driver.IfVersion:
		seq, fp, ok := parseVersion(cond.Version)
		if !ok {
			return driver.Version{}, fmt.Errorf("version %q is not a version of this store: %w", cond.Version, driver.ErrConflict)
		}
		return s.write(ctx, key, cp, linkName(cp, seq+1, fp), body, value)
	case driver.IfAbsent:
		c, err := s.readChain(ctx, key, cp)
		if err != nil {
			return driver.Version{}, err
		}
		if _, live := c.live(); live {
			return driver.Version{}, fmt.Errorf("key exists: %w", driver.ErrConflict)
		}
		if tomb {
			return driver.Version{}, errAlreadyAbsent
		}
		return s.write(ctx, key, cp, linkName(cp, c.maxSeq()+1, 0), body, value)
	default:
		for attempt := 0; attempt < maxAttempts; attempt++ {
			c, err := s.readChain(ctx, key, cp)
			if err != nil {
				return driver.Version{}, err
			}
			name := ""
			if h, live := c.live(); live {
				name = linkName(cp, c.links[h].seq+1, fingerprint(c.links[h].ETag))
			} else if tomb {
				return driver.Version{}, errAlreadyAbsent
			} else {
				name = linkName(cp, c.maxSeq()+1, 0)
			}
			v, err := s.write(ctx, key, cp, name, body, value)
			if errors.Is(err, driver.ErrConflict) {
				continue
			}
			return v, err
		}
		return driver.Version{}, fmt.Errorf("the key changed under %d attempts in a row: %w", maxAttempts, driver.ErrConflict)
	}
}

// write creates the object name and checks, by listing the chain again,
// that it took effect (see the package documentation: a create-only write
// can succeed on a name collected long ago, and such a write is void).
func (s *Store) write(ctx context.Context, key, cp, name string, body, value []byte) (driver.Version, error) {
	etag, err := s.b.Create(ctx, name, body)
	if err != nil {
		return driver.Version{}, err
	}
	c, err := s.readChain(ctx, key, cp)
	if err != nil {
		// The write may or may not count; the caller sees an error that
		// is not a conflict and re-reads.
		return driver.Version{}, fmt.Errorf("check write: %w", err)
	}
	s.gc.consider(c, cp)
	i := c.find(name, etag)
	if i < 0 || !c.won(i) {
		if i >= 0 {
			s.gc.enqueue(key, cp)
		}
		return driver.Version{}, fmt.Errorf("object %q was written on a version that is no longer current: %w", name, driver.ErrConflict)
	}
	if value != nil {
		s.cache.put(name, etag, value)
	}
	return versionOf(&c.links[i]), nil
}

// HealthCheck probes the bucket: Healthy when it answers.
func (s *Store) HealthCheck(ctx context.Context) driver.Health {
	if s.closed.Load() {
		return driver.Health{Status: driver.Unhealthy, Reason: "store closed"}
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
	}
	if err := s.b.Probe(ctx); err != nil {
		return driver.Health{Status: driver.Unhealthy, Reason: err.Error()}
	}
	return driver.Health{Status: driver.Healthy}
}

// CacheStats reports the hits and misses of the object body cache.
func (s *Store) CacheStats() (hits, misses uint64) { return s.cache.stats() }

// Close stops the background collection and closes the bucket.
func (s *Store) Close(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Swap(true) {
		return fmt.Errorf("%s: %w", s.o.Describe, driver.ErrClosed)
	}
	s.gc.stop(ctx)
	return s.b.Close()
}
