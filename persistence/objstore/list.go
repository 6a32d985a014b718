package objstore

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/orbit-go/orbit/persistence/driver"
)

// DefaultPageSize is the number of keys a List page holds when the caller
// sets no limit.
const DefaultPageSize = 1000

// List returns the live keys under prefix in key order, one page at a time:
// one listing of object names (a key's objects are adjacent), then the
// values of the page's keys read in parallel (or from the cache).
func (s *Store) List(ctx context.Context, prefix string, opts driver.ListOptions) (driver.ListPage, error) {
	if err := s.checkOpen(); err != nil {
		return driver.ListPage{}, err
	}
	limit := opts.Limit
	if limit <= 0 || limit > DefaultPageSize {
		limit = DefaultPageSize
	}
	namePrefix := string(encodeKey([]byte(s.o.Prefix), prefix))
	after := namePrefix // see readChain
	if opts.StartAfter != "" {
		after = string(encodeKey([]byte(s.o.Prefix), opts.StartAfter)) + afterChain
	}
	var (
		heads []*link
		keys  []string
		cur   *chain
		curCP string
		more  bool
	)
	// finish resolves the chain just completed.
	finish := func() {
		if cur == nil {
			return
		}
		s.gc.consider(cur, curCP)
		if h, live := cur.live(); live {
			heads = append(heads, &cur.links[h])
			keys = append(keys, cur.key)
		}
		cur = nil
	}
listing:
	for {
		page, err := s.b.List(ctx, namePrefix, after, listPage)
		if err != nil {
			return driver.ListPage{}, fmt.Errorf("list %q: %w", prefix, err)
		}
		for _, o := range page.Objects {
			enc, seq, pred, err := parseName(o.Name[len(s.o.Prefix):])
			if err != nil {
				continue
			}
			if cur == nil || enc != cur.key {
				finish()
				if len(heads) == limit {
					more = true
					break listing
				}
				cp := o.Name[:len(s.o.Prefix)+len(enc)+len(sep)]
				cur, curCP = &chain{key: enc, serverTime: page.ServerTime}, cp
			}
			cur.links = append(cur.links, link{Object: o, seq: seq, pred: pred, tomb: o.Size == int64(tombSize)})
		}
		if !page.More || len(page.Objects) == 0 {
			finish()
			break
		}
		after = page.Objects[len(page.Objects)-1].Name
	}
	entries, err := s.readHeads(ctx, heads, keys)
	if err != nil {
		return driver.ListPage{}, fmt.Errorf("list %q: %w", prefix, err)
	}
	return driver.ListPage{Entries: entries, More: more}, nil
}

// readHeads reads the values of the listed heads, ReadConcurrency at a
// time. keys hold the encoded keys; a head replaced since the listing is
// read again through Get, and skipped when the key is gone.
func (s *Store) readHeads(ctx context.Context, heads []*link, keys []string) ([]driver.Entry, error) {
	out := make([]driver.Entry, len(heads))
	gone := make([]bool, len(heads))
	errs := make([]error, len(heads))
	sem := make(chan struct{}, s.o.ReadConcurrency)
	var wg sync.WaitGroup
	for i, l := range heads {
		key, err := decodeKey(keys[i])
		if err != nil {
			return nil, fmt.Errorf("object %q: %w: %w", l.Name, err, driver.ErrCorrupt)
		}
		out[i] = driver.Entry{Key: key, Version: versionOf(l)}
		if v, ok := s.cache.get(l.Name, l.ETag); ok {
			out[i].Value = v
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			v, err := s.readValue(ctx, l)
			if errors.Is(err, driver.ErrNotFound) {
				e, err := s.Get(ctx, key)
				if errors.Is(err, driver.ErrNotFound) {
					gone[i] = true
					return
				}
				out[i], errs[i] = e, err
				return
			}
			out[i].Value, errs[i] = v, err
		}()
	}
	wg.Wait()
	n := 0
	for i := range out {
		if errs[i] != nil {
			return nil, errs[i]
		}
		if !gone[i] {
			out[n] = out[i]
			n++
		}
	}
	return out[:n], nil
}
