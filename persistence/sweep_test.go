package persistence_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orbit-go/orbit/clock"
	"github.com/orbit-go/orbit/persistence"
	"github.com/orbit-go/orbit/persistence/driver"
	"github.com/orbit-go/orbit/persistence/drivertest"
)

// txnExpiryKV is a transactional KV with an expiry listing and no index
// (the shape of the etcd driver): the sweep deletes a dead record and its
// node index entry in one transaction.
type txnExpiryKV struct{ txnKV }

func (t txnExpiryKV) PutWithOptions(ctx context.Context, k string, v []byte, c driver.Condition, o driver.PutOptions) (driver.Version, error) {
	o.Label = "" // not an Indexer
	return t.s.PutWithOptions(ctx, k, v, c, o)
}
func (t txnExpiryKV) ListExpiring(ctx context.Context, prefix string, before time.Time, limit int) ([]driver.Entry, error) {
	return t.s.ListExpiring(ctx, prefix, before, limit)
}
func (t txnExpiryKV) ExpiryGranularity() time.Duration { return t.s.ExpiryGranularity() }

func TestConformanceTransactionalExpiryListingKV(t *testing.T) {
	drivertest.RunConformanceTests(t, drivertest.Harness{
		MakeStore:    func(t *testing.T) driver.Store { return txnExpiryKV{txnKV{plainKV{newMem(t)}}} },
		Capabilities: []driver.Capability{driver.CapTransactions, driver.CapExpiryIndex},
	})
}

// countingKV counts the lease records the lease logic reads by listing.
type countingKV struct {
	txnExpiryKV
	listed, due atomic.Int64
}

func (c *countingKV) List(ctx context.Context, prefix string, o driver.ListOptions) (driver.ListPage, error) {
	p, err := c.txnExpiryKV.List(ctx, prefix, o)
	for _, e := range p.Entries {
		if strings.HasPrefix(e.Key, "a/") {
			c.listed.Add(1)
		}
	}
	return p, err
}
func (c *countingKV) ListExpiring(ctx context.Context, prefix string, before time.Time, limit int) ([]driver.Entry, error) {
	es, err := c.txnExpiryKV.ListExpiring(ctx, prefix, before, limit)
	c.due.Add(int64(len(es)))
	return es, err
}

// TestSweepReadsOnlyWhatIsDue stores 5,000 leases of which 50 expire, and
// checks that the sweep deletes exactly those, reads no lease by listing
// and reads only the due records through the expiry listing; the index
// entries of the deleted records go with them.
func TestSweepReadsOnlyWhatIsDue(t *testing.T) {
	const n, dead = 5000, 50
	ctx := context.Background()
	kv := &countingKV{txnExpiryKV: txnExpiryKV{txnKV{plainKV{newMem(t)}}}}
	c := clock.NewManual(time.Now())
	p := persistence.NewProvider("counted", "test", kv, persistence.WithClock(c))
	node := persistence.NodeID{Namespace: "default", Key: "n1"}
	for i := range n {
		ttl := time.Hour
		if i%(n/dead) == 0 {
			ttl = 10 * time.Second
		}
		ref := persistence.AddressableReference{Namespace: "default", Type: "T", Key: persistence.StringKey(fmt.Sprint("k", i))}
		if _, err := p.Addressables().Place(ctx, ref, node, ttl); err != nil {
			t.Fatal(err)
		}
	}
	c.Advance(10*time.Second + persistence.DefaultEpochGrace)
	kv.listed.Store(0)
	removed, err := p.Addressables().CleanupExpired(ctx)
	if err != nil || removed != dead {
		t.Fatalf("CleanupExpired = %d, %v; want %d", removed, err, dead)
	}
	if got := kv.listed.Load(); got != 0 {
		t.Fatalf("the sweep listed %d lease records; it must read only the due ones", got)
	}
	if got := kv.due.Load(); got != dead {
		t.Fatalf("the expiry listing returned %d records, want the %d dead ones", got, dead)
	}
	page, err := p.Addressables().ListByNode(ctx, node, persistence.PageRequest{Limit: n})
	if err != nil || len(page.Leases) != n-dead {
		t.Fatalf("ListByNode after the sweep = %d leases, %v; want %d", len(page.Leases), err, n-dead)
	}
	idx, err := kv.s.List(ctx, persistence.IndexKeyPrefix, driver.ListOptions{Limit: 2 * n})
	if err != nil || len(idx.Entries) != n-dead {
		t.Fatalf("%d index entries remain, %v; want %d", len(idx.Entries), err, n-dead)
	}
}
