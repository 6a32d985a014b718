package persistence

import (
	"context"
	"encoding/base64"
	"fmt"
	"iter"
	"strings"

	"github.com/orbit-go/orbit/persistence/driver"
)

// Listing leases: page tokens, scans, List, ListByNode and All.

// Page tokens are the base64 of the last storage key returned, so that a
// listing resumes exactly after it whatever changed in between.
func encodeToken(key string) string { return base64.RawURLEncoding.EncodeToString([]byte(key)) }

func decodeToken(tok, prefix string) (string, error) {
	if tok == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || !strings.HasPrefix(string(b), prefix) {
		return "", invalid("page_token", "%q is not a token of this listing", tok)
	}
	return string(b), nil
}

func pageLimit(n int) (int, error) {
	switch {
	case n < 0:
		return 0, invalid("limit", "%d must be >= 0", n)
	case n == 0:
		return DefaultPageSize, nil
	case n > MaxPageSize:
		return MaxPageSize, nil
	}
	return n, nil
}

// lister lists one page of entries.
type lister func(ctx context.Context, opts driver.ListOptions) (driver.ListPage, error)

func (a *addressables) prefixLister(prefix string) lister {
	return func(ctx context.Context, opts driver.ListOptions) (driver.ListPage, error) {
		return a.kv.store.List(ctx, prefix, opts)
	}
}

// scan lists keys under prefix from token, calls keep for each entry until
// limit items were kept or the prefix is exhausted, and returns the token of
// the last entry examined ("" when done).
func (a *addressables) scan(ctx context.Context, list lister, tokenPrefix, token string, limit int, keep func(driver.Entry) (bool, error)) (string, error) {
	after, err := decodeToken(token, tokenPrefix)
	if err != nil {
		return "", err
	}
	kept := 0
	for {
		page, err := list(ctx, driver.ListOptions{StartAfter: after, Limit: limit - kept})
		if err != nil {
			return "", fmt.Errorf("list %q: %w", tokenPrefix, err)
		}
		for _, e := range page.Entries {
			after = e.Key
			ok, err := keep(e)
			if err != nil {
				return "", err
			}
			if ok {
				kept++
				if kept == limit {
					if !page.More && e.Key == page.Entries[len(page.Entries)-1].Key {
						return "", nil
					}
					return encodeToken(after), nil
				}
			}
		}
		if !page.More || len(page.Entries) == 0 {
			return "", nil
		}
	}
}

func (a *addressables) List(ctx context.Context, req PageRequest) (LeasePage, error) {
	limit, err := pageLimit(req.Limit)
	if err != nil {
		return LeasePage{}, err
	}
	if req.Namespace != "" {
		if err := checkIdent("namespace", req.Namespace, MaxNamespaceLen); err != nil {
			return LeasePage{}, err
		}
	}
	now := a.opt.clock.Now()
	var out LeasePage
	prefix := leaseNamespacePrefix(req.Namespace)
	out.NextPageToken, err = a.scan(ctx, a.prefixLister(prefix), prefix, req.PageToken, limit, func(e driver.Entry) (bool, error) {
		rec, err := decodeLease(e.Key, e.Value)
		if err != nil {
			return false, fmt.Errorf("decode lease %q: %w", e.Key, err)
		}
		if rec.Released || !rec.Live(now) {
			return false, nil
		}
		out.Leases = append(out.Leases, rec.AddressableLease)
		return true, nil
	})
	return out, err
}

func (a *addressables) ListByNode(ctx context.Context, node NodeID, req PageRequest) (LeasePage, error) {
	if err := node.Validate(); err != nil {
		return LeasePage{}, err
	}
	limit, err := pageLimit(req.Limit)
	if err != nil {
		return LeasePage{}, err
	}
	var out LeasePage
	if a.kv.index != nil {
		label := node.String()
		list := func(ctx context.Context, opts driver.ListOptions) (driver.ListPage, error) {
			return a.kv.index.ListIndex(ctx, label, opts)
		}
		out.NextPageToken, err = a.scan(ctx, list, leasePrefix, req.PageToken, limit, func(e driver.Entry) (bool, error) {
			rec, err := decodeLease(e.Key, e.Value)
			if err != nil {
				return false, fmt.Errorf("decode lease %q: %w", e.Key, err)
			}
			if rec.Released || rec.Node != node || !rec.Live(a.opt.clock.Now()) {
				return false, nil
			}
			out.Leases = append(out.Leases, rec.AddressableLease)
			return true, nil
		})
		return out, err
	}
	prefix := nodeIndexPrefix(node)
	out.NextPageToken, err = a.scan(ctx, a.prefixLister(prefix), prefix, req.PageToken, limit, func(e driver.Entry) (bool, error) {
		rec, _, found, err := a.read(ctx, e.Key[len(prefix):])
		if err != nil {
			return false, err
		}
		if !found || rec.Released || rec.Node != node || !rec.Live(a.opt.clock.Now()) {
			return false, nil // stale index entry: removed by cleanup
		}
		out.Leases = append(out.Leases, rec.AddressableLease)
		return true, nil
	})
	return out, err
}

func (a *addressables) All(ctx context.Context, namespace string) iter.Seq2[AddressableLease, error] {
	return func(yield func(AddressableLease, error) bool) {
		req := PageRequest{Namespace: namespace, Limit: DefaultPageSize}
		for {
			page, err := a.List(ctx, req)
			if err != nil {
				yield(AddressableLease{}, err)
				return
			}
			for _, l := range page.Leases {
				if !yield(l, nil) {
					return
				}
			}
			if page.NextPageToken == "" {
				return
			}
			req.PageToken = page.NextPageToken
		}
	}
}
