package etcd

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"golang.org/x/sync/errgroup"

	"github.com/orbit-go/orbit/persistence/driver"
)

// The expiry listing (driver.ExpiryLister) reads etcd's own filing: every
// entry with an ExpireAt is attached to the lease of its TTL bucket (see
// buckets.go), so the entries due by a time are the keys attached to the
// leases that expire soon after it. ListExpiring lists the cluster's leases,
// learns each lease's expiry once (bucket leases are never kept alive, so it
// does not move), and asks only the due leases for their keys: its cost
// follows how many entries are due, not how many are stored.

// expiryMargin covers the difference between a bucket's end and its lease's
// expiry (bucketSafety plus the rounding of the TTL to seconds) and the
// rounding of the remaining TTL etcd reports.
const expiryMargin = 3 * time.Second

// leaseQueryParallelism bounds the lease queries one listing has in flight.
const leaseQueryParallelism = 8

// leaseExpiries caches the estimated expiry of every lease seen.
type leaseExpiries struct {
	mu  sync.Mutex
	end map[clientv3.LeaseID]time.Time
}

// ExpiryGranularity is how much later than asked an entry ListExpiring
// returns may be filed: one TTL bucket and the margin of its lease.
func (s *Store) ExpiryGranularity() time.Duration { return s.opts.BucketWidth + expiryMargin }

// ListExpiring returns up to limit entries under prefix whose ExpireAt is
// at or before before, or up to ExpiryGranularity later, earliest lease
// first. An entry rewritten meanwhile comes with its current value.
func (s *Store) ListExpiring(ctx context.Context, prefix string, before time.Time, limit int) ([]driver.Entry, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = driver.DefaultExpiringLimit
	}
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	due, err := s.dueLeases(ctx, before)
	if err != nil {
		return nil, s.wrap("list expiring", prefix, err)
	}
	full := s.full(prefix)
	var out []driver.Entry
	// Ask the due leases for their keys a few at a time, earliest first,
	// until limit entries are read.
	for start := 0; start < len(due) && len(out) < limit; start += leaseQueryParallelism {
		part := due[start:min(start+leaseQueryParallelism, len(due))]
		keys := make([][]string, len(part))
		g, gctx := errgroup.WithContext(ctx)
		for i, id := range part {
			g.Go(func() error {
				resp, err := s.client.TimeToLive(gctx, id, clientv3.WithAttachedKeys())
				if err != nil {
					if isLeaseNotFound(err) {
						return nil // expired meanwhile: etcd deleted its keys
					}
					return err
				}
				for _, k := range resp.Keys {
					if strings.HasPrefix(string(k), full) {
						keys[i] = append(keys[i], string(k))
					}
				}
				slices.Sort(keys[i])
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			return nil, s.wrap("list expiring", prefix, err)
		}
		for _, ks := range keys {
			if out, err = s.readDue(ctx, ks, limit, out); err != nil {
				return nil, s.wrap("list expiring", prefix, err)
			}
		}
	}
	return out, nil
}

// dueLeases returns the cluster's leases that may hold an entry filed at or
// before before, earliest first, learning the expiry of leases not seen
// before and forgetting those gone.
func (s *Store) dueLeases(ctx context.Context, before time.Time) ([]clientv3.LeaseID, error) {
	resp, err := s.client.Leases(ctx)
	if err != nil {
		return nil, err
	}
	e := &s.expiries
	e.mu.Lock()
	if e.end == nil {
		e.end = map[clientv3.LeaseID]time.Time{}
	}
	live := make(map[clientv3.LeaseID]bool, len(resp.Leases))
	var unknown []clientv3.LeaseID
	for _, l := range resp.Leases {
		live[l.ID] = true
		if _, ok := e.end[l.ID]; !ok {
			unknown = append(unknown, l.ID)
		}
	}
	for id := range e.end {
		if !live[id] {
			delete(e.end, id)
		}
	}
	e.mu.Unlock()
	if err := s.learnExpiries(ctx, unknown); err != nil {
		return nil, err
	}
	// A lease ending at E holds entries filed after E - BucketWidth - margin.
	cut := before.Add(s.opts.BucketWidth + expiryMargin)
	e.mu.Lock()
	defer e.mu.Unlock()
	var due []clientv3.LeaseID
	for id, end := range e.end {
		if !end.After(cut) {
			due = append(due, id)
		}
	}
	slices.SortFunc(due, func(a, b clientv3.LeaseID) int { return e.end[a].Compare(e.end[b]) })
	return due, nil
}

// learnExpiries asks etcd for the remaining TTL of each lease in ids.
func (s *Store) learnExpiries(ctx context.Context, ids []clientv3.LeaseID) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(leaseQueryParallelism)
	for _, id := range ids {
		g.Go(func() error {
			asked := time.Now()
			resp, err := s.client.TimeToLive(gctx, id)
			if err != nil {
				if isLeaseNotFound(err) {
					return nil
				}
				return fmt.Errorf("lease %x: %w", int64(id), err)
			}
			if resp.TTL < 0 {
				return nil // expired
			}
			s.expiries.mu.Lock()
			s.expiries.end[id] = asked.Add(time.Duration(resp.TTL) * time.Second)
			s.expiries.mu.Unlock()
			return nil
		})
	}
	return g.Wait()
}

// readDue appends the current entries of the full keys ks that exist to
// out, up to limit entries, in transactions of at most MaxTxnOps reads.
func (s *Store) readDue(ctx context.Context, ks []string, limit int, out []driver.Entry) ([]driver.Entry, error) {
	for start := 0; start < len(ks) && len(out) < limit; start += s.opts.MaxTxnOps {
		part := ks[start:min(start+s.opts.MaxTxnOps, len(ks))]
		ops := make([]clientv3.Op, len(part))
		for i, k := range part {
			ops[i] = clientv3.OpGet(k)
		}
		resp, err := s.client.Txn(ctx).Then(ops...).Commit()
		if err != nil {
			return out, err
		}
		for _, r := range resp.Responses {
			for _, kv := range r.GetResponseRange().GetKvs() {
				if len(out) == limit {
					return out, nil
				}
				out = append(out, driver.Entry{Key: string(kv.Key[len(s.pfx):]), Value: kv.Value,
					Version: driver.NumVersion(uint64(kv.ModRevision))})
			}
		}
	}
	return out, nil
}
