package objstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
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

// Open checks b with its Probe and returns a Store on it, with o.Prefix
// made a folder ("orbit", "/orbit/" → "orbit/"; empty stays empty). If the
// probe fails, b is closed and the probe's error returned (the adapters
// name the endpoint and the bucket, never a secret).
func Open(ctx context.Context, b Bucket, o Options) (*Store, error) {
	if err := b.Probe(ctx); err != nil {
		b.Close()
		return nil, err
	}
	if o.Prefix = strings.Trim(o.Prefix, "/"); o.Prefix != "" {
		o.Prefix += "/"
	}
	return New(b, o), nil
}

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
	// Starting after the prefix itself changes nothing on S3, and lets
	// servers that scan from the marker (gofakes3) skip the names before.
	after := cp
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
	if value == nil {
		value = []byte{} // nil marks a tombstone below
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
		pv, ok := parseVersion(cond.Version)
		if !ok {
			return driver.Version{}, fmt.Errorf("version %q is not a version of this store: %w", cond.Version, driver.ErrConflict)
		}
		return s.replace(ctx, cp, link{seq: pv.seq, pred: pv.pred}, pv.fp, body, value)
	case driver.IfAbsent:
		if tomb {
			c, err := s.readChain(ctx, key, cp)
			if err != nil {
				return driver.Version{}, err
			}
			if _, live := c.live(); live {
				return driver.Version{}, fmt.Errorf("key exists: %w", driver.ErrConflict)
			}
			return driver.Version{}, errAlreadyAbsent
		}
		return s.create(ctx, key, cp, body, value)
	default:
		if !tomb {
			// Most unconditional writes create a key (the lease logic's
			// index entries): try that first, without a listing.
			v, err := s.createAt(ctx, key, cp, 1, body, value)
			if !errors.Is(err, driver.ErrConflict) {
				return v, err
			}
		}
		for attempt := 0; attempt < maxAttempts; attempt++ {
			c, err := s.readChain(ctx, key, cp)
			if err != nil {
				return driver.Version{}, err
			}
			var v driver.Version
			if h, live := c.live(); live {
				v, err = s.replace(ctx, cp, c.links[h], fingerprint(c.links[h].ETag), body, value)
			} else if tomb {
				return driver.Version{}, errAlreadyAbsent
			} else {
				v, err = s.createAt(ctx, key, cp, c.maxSeq()+1, body, value)
			}
			if errors.Is(err, driver.ErrConflict) {
				continue
			}
			return v, err
		}
		return driver.Version{}, fmt.Errorf("the key changed under %d attempts in a row: %w", maxAttempts, driver.ErrConflict)
	}
}

// create writes the first object of a new key: optimistically at seq 1
// (a key never written, the common case: no listing first), else after
// the chain's last object.
func (s *Store) create(ctx context.Context, key, cp string, body, value []byte) (driver.Version, error) {
	v, err0 := s.createAt(ctx, key, cp, 1, body, value)
	if !errors.Is(err0, driver.ErrConflict) {
		return v, err0
	}
	c, err := s.readChain(ctx, key, cp)
	if err != nil {
		return driver.Version{}, err
	}
	if h, live := c.live(); live {
		// The optimistic creation, judged lost, can be the head now: it
		// landed on a collected name while a tombstone counted, and the
		// tombstone stopped counting since (its final collection). The key
		// then holds our value: the write took effect.
		var lost *lostCreation
		if errors.As(err0, &lost) && c.links[h].Name == lost.name && c.links[h].ETag == lost.etag {
			if value != nil {
				s.cache.put(lost.name, lost.etag, value)
			}
			return versionOf(&c.links[h]), nil
		}
		return driver.Version{}, fmt.Errorf("key exists: %w", driver.ErrConflict)
	}
	return s.createAt(ctx, key, cp, c.maxSeq()+1, body, value)
}

// lostCreation is createAt's conflict when its object was created but did
// not count when the chain was listed.
type lostCreation struct{ name, etag string }

func (e *lostCreation) Error() string {
	return fmt.Sprintf("creation %q lost to a concurrent one", e.name)
}

func (e *lostCreation) Unwrap() error { return driver.ErrConflict }

// createAt creates the object (seq, 0) and checks, by listing the chain,
// that it counts: a creation can succeed on a name collected long ago, and
// such a write is void (see the package documentation).
func (s *Store) createAt(ctx context.Context, key, cp string, seq uint64, body, value []byte) (driver.Version, error) {
	name := linkName(cp, seq, 0)
	etag, err := s.b.Create(ctx, name, body)
	if err != nil {
		return driver.Version{}, err
	}
	c, err := s.readChain(ctx, key, cp)
	if err != nil {
		// The write may or may not count; the caller sees an error that
		// is not a conflict and re-reads.
		return driver.Version{}, fmt.Errorf("check creation: %w", err)
	}
	s.gc.consider(c, cp)
	i := c.find(name, etag)
	if i < 0 || !c.won(i) {
		if i >= 0 {
			s.gc.enqueue(cp)
		}
		return driver.Version{}, &lostCreation{name: name, etag: etag}
	}
	if value != nil {
		s.cache.put(name, etag, value)
	}
	return versionOf(&c.links[i]), nil
}

// replace creates the successor of prev (whose entity tag has fingerprint
// prevFP) and checks that prev still exists with that tag: objects are
// collected in ascending order, so a predecessor still present means its
// successor's name was never taken before this write; a predecessor gone
// means the write landed on a collected name and is void.
func (s *Store) replace(ctx context.Context, cp string, prev link, prevFP uint64, body, value []byte) (driver.Version, error) {
	l := link{seq: prev.seq + 1, pred: prevFP}
	l.Name = linkName(cp, l.seq, l.pred)
	etag, err := s.b.Create(ctx, l.Name, body)
	if err != nil {
		return driver.Version{}, err
	}
	l.ETag = etag
	prevName := prev.Name
	if prevName == "" {
		prevName = linkName(cp, prev.seq, prev.pred)
	}
	got, err := s.b.Stat(ctx, prevName)
	switch {
	case errors.Is(err, driver.ErrNotFound) || err == nil && fingerprint(got) != prevFP:
		s.gc.enqueue(cp)
		return driver.Version{}, fmt.Errorf("object %q was written on a version that is no longer current: %w", l.Name, driver.ErrConflict)
	case err != nil:
		return driver.Version{}, fmt.Errorf("check write: %w", err)
	}
	if value != nil {
		s.cache.put(l.Name, etag, value)
	}
	return versionOf(&l), nil
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
