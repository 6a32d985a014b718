package etcd_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/orbit-go/orbit/internal/testbackend/etcdtest"
	"github.com/orbit-go/orbit/persistence/driver"
)

func leaseCount(t *testing.T, c *clientv3.Client) int {
	t.Helper()
	resp, err := c.Leases(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return len(resp.Leases)
}

// TestTTLBucketsShareLeases: 10,000 writes whose deadlines are spread over
// a minute create one etcd lease per TTL bucket (5 s here), not one per
// write; every entry's lease outlives its deadline.
func TestTTLBucketsShareLeases(t *testing.T) {
	srv := etcdtest.Start(t)
	o := testOptions(srv) // LeaseTTL 5 s: buckets of 5 s
	s := openStore(t, o, "buckets")
	root := srv.Client(t)
	before := leaseCount(t, root)

	const n, workers = 10_000, 16
	base := time.Now().Add(time.Minute)
	deadline := func(i int) time.Time { return base.Add(time.Duration(i) * time.Minute / n) }
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				opts := driver.PutOptions{ExpireAt: deadline(i)}
				if _, err := s.PutWithOptions(context.Background(), fmt.Sprintf("k/%05d", i), []byte("v"), driver.Unconditional(), opts); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	granted := leaseCount(t, root) - before
	buckets := int(time.Minute/(5*time.Second)) + 2 // a minute spans at most 13 buckets of 5 s
	t.Logf("%d writes over a minute of deadlines: %d etcd leases (buckets of 5 s: at most %d)", n, granted, buckets)
	if granted > buckets || granted < buckets-2 {
		t.Fatalf("%d etcd leases for %d writes over a minute, want one per 5 s bucket (%d..%d)", granted, n, buckets-2, buckets)
	}
	// Every entry is attached to a lease that outlives its deadline.
	for i := 0; i < n; i += 997 {
		resp, err := root.Get(context.Background(), fmt.Sprintf("buckets/k/%05d", i))
		if err != nil || len(resp.Kvs) != 1 || resp.Kvs[0].Lease == 0 {
			t.Fatalf("entry %d: %v, %v (no lease)", i, resp, err)
		}
		ttl, err := root.TimeToLive(context.Background(), clientv3.LeaseID(resp.Kvs[0].Lease))
		if err != nil {
			t.Fatal(err)
		}
		if expires := time.Now().Add(time.Duration(ttl.TTL+1) * time.Second); expires.Before(deadline(i)) { // TTL is truncated to seconds
			t.Fatalf("entry %d: its lease expires at %s, before its deadline %s", i, expires, deadline(i))
		}
	}
}

// TestTTLBucketsInTxnAndCap: transaction writes attach to bucket leases
// too, a write without a deadline leaves its lease, and MaxKeysPerLease
// caps the writes attached to one lease.
func TestTTLBucketsInTxnAndCap(t *testing.T) {
	srv := etcdtest.Start(t)
	o := testOptions(srv)
	o.MaxKeysPerLease = 10
	s := openStore(t, o, "cap")
	root := srv.Client(t)
	ctx := context.Background()
	at := time.Now().Add(time.Hour)
	ops := []driver.Op{
		{Kind: driver.OpPut, Key: "t/a", Value: []byte("a"), Cond: driver.CreateOnly(), ExpireAt: at},
		{Kind: driver.OpPut, Key: "t/b", Value: []byte("b"), Cond: driver.CreateOnly()},
	}
	if _, err := s.Txn(ctx, ops); err != nil {
		t.Fatal(err)
	}
	leaseOf := func(key string) int64 {
		t.Helper()
		resp, err := root.Get(ctx, "cap/"+key)
		if err != nil || len(resp.Kvs) != 1 {
			t.Fatalf("%s: %v, %v", key, resp, err)
		}
		return resp.Kvs[0].Lease
	}
	if leaseOf("t/a") == 0 || leaseOf("t/b") != 0 {
		t.Fatalf("leases after Txn: t/a=%d (want one), t/b=%d (want none)", leaseOf("t/a"), leaseOf("t/b"))
	}
	if _, err := s.Put(ctx, "t/a", []byte("again"), driver.Unconditional()); err != nil {
		t.Fatal(err)
	}
	if l := leaseOf("t/a"); l != 0 {
		t.Fatalf("a put without a deadline kept lease %d", l)
	}
	before := leaseCount(t, root)
	for i := 0; i < 30; i++ {
		if _, err := s.PutWithOptions(ctx, fmt.Sprintf("c/%02d", i), nil, driver.Unconditional(), driver.PutOptions{ExpireAt: at}); err != nil {
			t.Fatal(err)
		}
	}
	if got := leaseCount(t, root) - before; got != 3 {
		t.Fatalf("30 writes to one bucket with MaxKeysPerLease 10 granted %d leases, want 3", got)
	}
}
