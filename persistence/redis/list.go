package redis

// This file holds listing: List and ListIndex, merged over the shards.

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"

	"github.com/redis/rueidis"

	"github.com/orbit-go/orbit/persistence/driver"
)

// List returns one page of the keys with the given prefix, in order.
func (s *Store) List(ctx context.Context, prefix string, opts driver.ListOptions) (driver.ListPage, error) {
	return s.list(ctx, "list", s.orders, prefix, "", false, opts)
}

// ListIndex returns one page of the entries labelled label, in key order.
func (s *Store) ListIndex(ctx context.Context, label string, opts driver.ListOptions) (driver.ListPage, error) {
	idx := make([]string, len(s.tags))
	for i, t := range s.tags {
		idx[i] = t + ":l:" + label
	}
	return s.list(ctx, "list index", idx, "", label, true, opts)
}

func (s *Store) list(ctx context.Context, what string, zsets []string, prefix, label string, byLabel bool, opts driver.ListOptions) (driver.ListPage, error) {
	if err := s.checkOpen(); err != nil {
		return driver.ListPage{}, err
	}
	limit := opts.Limit
	if limit <= 0 || limit > DefaultListLimit {
		limit = DefaultListLimit
	}
	lo, hi := "-", "+"
	if prefix != "" {
		lo, hi = "["+prefix, "("+prefix+"\xff"
	}
	if opts.StartAfter != "" && opts.StartAfter >= prefix {
		lo = "(" + opts.StartAfter
	}
	want := strconv.Itoa(limit + 1)
	bl := "0"
	if byLabel {
		bl = "1"
	}
	execs := make([]rueidis.LuaExec, len(zsets))
	for i, z := range zsets {
		execs[i] = rueidis.LuaExec{Keys: []string{z}, Args: []string{s.tags[i], lo, hi, want, bl, label}}
	}
	var entries []driver.Entry
	err := s.retry(ctx, func(ctx context.Context) error {
		entries = entries[:0]
		for _, r := range listScript.ExecMulti(ctx, s.client, execs...) {
			kv, err := r.AsStrSlice()
			if err != nil {
				return err
			}
			for j := 0; j+1 < len(kv); j += 2 {
				ver, _, value, err := decodeRecord(kv[j], kv[j+1])
				if err != nil {
					return err
				}
				entries = append(entries, driver.Entry{Key: kv[j], Value: bytesOf(value), Version: driver.TagVersion(ver)})
			}
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, driver.ErrCorrupt) {
			return driver.ListPage{}, err
		}
		return driver.ListPage{}, s.wrap(what, prefix+label, err)
	}
	if len(zsets) > 1 {
		slices.SortFunc(entries, func(a, b driver.Entry) int { return strings.Compare(a.Key, b.Key) })
	}
	page := driver.ListPage{Entries: entries}
	if len(entries) > limit {
		page.Entries, page.More = entries[:limit], true
	}
	return page, nil
}
