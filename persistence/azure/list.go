package azure

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/orbit-go/orbit/persistence/objstore"
)

// Listing after a name.
//
// Azure's List Blobs has a prefix and an opaque continuation marker, and
// no S3 StartAfter. Service version 2026-12-06 (azblob v1.8.3) adds
// startFrom: list from a blob name, inclusive; Azurite 3.35 ignores it. The
// documentation of startFrom ("the relative path to list paths from")
// leaves open whether a name is relative to the prefix. So List never
// trusts it blindly:
//
//   - startAfter before the prefix (the engine's usual call: startAfter is
//     the chain prefix itself) needs no skipping: list the prefix, and drop
//     a name equal to startAfter.
//   - startAfter after every name of the prefix (it does not start with the
//     prefix) lists nothing, without a request.
//   - otherwise, while startFrom is not known to be ignored, List sends
//     startFrom=startAfter with no prefix, where "relative" and "absolute"
//     agree, keeps the names that start with the prefix and stops at the
//     first that does not (all names after startAfter that have the prefix
//     come first). A name before startAfter in the answer proves the server
//     ignored startFrom: the bucket remembers it and falls back.
//   - the fallback lists the prefix with a marker when the previous page
//     of this bucket ended at startAfter (the engine pages by passing the
//     last name it got, so every page after the first continues from the
//     remembered marker, one request per page), else from the prefix's
//     first name, skipping the names up to startAfter page by page.
//
// Every name returned starts with the prefix and sorts strictly after
// startAfter, whatever the server did with startFrom.
type listState struct {
	startFromIgnored atomic.Bool
	markers          markerCache
}

// maxListResults is the most names one List Blobs request returns.
const maxListResults = 5000

func (b *bucket) List(ctx context.Context, prefix, startAfter string, limit int) (objstore.Listing, error) {
	if limit <= 0 || limit > maxListResults {
		limit = maxListResults
	}
	max := int32(limit)
	switch {
	case startAfter <= prefix:
		return b.listPages(ctx, prefix, startAfter, &container.ListBlobsFlatOptions{Prefix: optional(prefix), MaxResults: &max})
	case !strings.HasPrefix(startAfter, prefix):
		return objstore.Listing{}, nil
	}
	if !b.list.startFromIgnored.Load() {
		l, ignored, err := b.listFrom(ctx, prefix, startAfter, max)
		if err != nil || !ignored {
			return l, err
		}
	}
	opts := &container.ListBlobsFlatOptions{Prefix: optional(prefix), MaxResults: &max}
	if m, ok := b.list.markers.get(prefix, startAfter); ok {
		opts.Marker = &m
	}
	return b.listPages(ctx, prefix, startAfter, opts)
}

// listFrom lists with startFrom=startAfter and no prefix. ignored reports
// that the server answered with a name before startAfter (it ignores
// startFrom); the listing is then empty.
func (b *bucket) listFrom(ctx context.Context, prefix, startAfter string, max int32) (l objstore.Listing, ignored bool, err error) {
	opts := &container.ListBlobsFlatOptions{StartFrom: &startAfter, MaxResults: &max}
	pager := b.cc.NewListBlobsFlatPager(opts)
	first := true
	for {
		resp, err := pager.NextPage(ctx)
		if err != nil {
			return objstore.Listing{}, false, b.classify(ctx, "list", prefix, err)
		}
		setServerTime(&l, resp)
		items := blobItems(resp)
		if first && len(items) > 0 && items[0].Name != nil && *items[0].Name < startAfter {
			b.list.startFromIgnored.Store(true)
			return objstore.Listing{}, true, nil
		}
		first = false
		for _, it := range items {
			name := *it.Name
			if name <= startAfter {
				continue
			}
			if !strings.HasPrefix(name, prefix) {
				return l, false, nil // past the prefix: nothing after it has it
			}
			l.Objects = append(l.Objects, object(name, it))
		}
		more := nextMarker(resp) != ""
		if len(l.Objects) > 0 || !more {
			l.More = more
			return l, false, nil
		}
	}
}

// listPages lists the names under prefix that sort after startAfter,
// following markers past pages that hold none of them, and remembers the
// marker that continues after the last name of each page.
func (b *bucket) listPages(ctx context.Context, prefix, startAfter string, opts *container.ListBlobsFlatOptions) (objstore.Listing, error) {
	var l objstore.Listing
	pager := b.cc.NewListBlobsFlatPager(opts)
	for {
		resp, err := pager.NextPage(ctx)
		if err != nil {
			return objstore.Listing{}, b.classify(ctx, "list", prefix, err)
		}
		setServerTime(&l, resp)
		items := blobItems(resp)
		for _, it := range items {
			name := *it.Name
			if name <= startAfter || !strings.HasPrefix(name, prefix) {
				continue
			}
			l.Objects = append(l.Objects, object(name, it))
		}
		next := nextMarker(resp)
		if next != "" && len(items) > 0 {
			b.list.markers.put(prefix, *items[len(items)-1].Name, next)
		}
		if len(l.Objects) > 0 || next == "" {
			l.More = next != ""
			return l, nil
		}
	}
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func setServerTime(l *objstore.Listing, resp container.ListBlobsFlatResponse) {
	if l.ServerTime.IsZero() && resp.Date != nil {
		l.ServerTime = *resp.Date
	}
}

func nextMarker(resp container.ListBlobsFlatResponse) string {
	if resp.NextMarker == nil {
		return ""
	}
	return *resp.NextMarker
}

// blobItems returns the named items of a page.
func blobItems(resp container.ListBlobsFlatResponse) []*container.BlobItem {
	if resp.Segment == nil {
		return nil
	}
	items := resp.Segment.BlobItems[:0:0]
	for _, it := range resp.Segment.BlobItems {
		if it != nil && it.Name != nil {
			items = append(items, it)
		}
	}
	return items
}

func object(name string, it *container.BlobItem) objstore.Object {
	o := objstore.Object{Name: name}
	if p := it.Properties; p != nil {
		if p.ETag != nil {
			o.ETag = objstore.NormalizeETag(string(*p.ETag))
		}
		if p.ContentLength != nil {
			o.Size = *p.ContentLength
		}
		if p.LastModified != nil {
			o.Modified = *p.LastModified
		}
	}
	return o
}

// markerCache remembers, per (prefix, last name of a page), the marker that
// continues the listing after that name: the engine pages by passing the
// last name it got as startAfter. Bounded; the oldest entries go first.
type markerCache struct {
	mu    sync.Mutex
	m     map[string]string
	order []string // keys of m, oldest first
}

const maxMarkers = 1024

func markerKey(prefix, last string) string { return prefix + "\x00" + last }

func (c *markerCache) get(prefix, last string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m, ok := c.m[markerKey(prefix, last)]
	return m, ok
}

func (c *markerCache) put(prefix, last, marker string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[string]string)
	}
	k := markerKey(prefix, last)
	if _, ok := c.m[k]; !ok {
		if len(c.order) == maxMarkers {
			delete(c.m, c.order[0])
			c.order = c.order[1:]
		}
		c.order = append(c.order, k)
	}
	c.m[k] = marker
}
