package etcd_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/orbit-go/orbit/internal/benchutil"
	"github.com/orbit-go/orbit/internal/testbackend/etcdtest"
	"github.com/orbit-go/orbit/persistence"
	"github.com/orbit-go/orbit/persistence/etcd"
)

// BenchmarkEtcd compares Orbit's etcd provider, through the persistence
// API, with the raw clientv3 doing the same work against the same embedded
// server in the same run. Each sub-benchmark runs 16 goroutines
// (RunParallel with parallelism 8 on 2 cores) and reports ops/s.
//
//	op=get    orbit: AddressableDirectory.Get of a placed lease (one range
//	          read + decode); raw: Get of the same key.
//	op=place  orbit: Place of a new addressable (a read that misses, then
//	          one transaction: create-only record + index entry, both on a
//	          TTL-bucket lease); raw-clientv3: that transaction alone;
//	          raw-clientv3-get+txn: the read and the transaction.
//	op=renew  orbit: Renew of a held lease (a read, then one transaction:
//	          record if mod_revision matches + index entry, on a bucket
//	          lease); raw-clientv3: that transaction alone, the client
//	          remembering each key's mod_revision; raw-clientv3-get+txn:
//	          the read and the transaction.
//
// The raw-clientv3 variants are the fewest requests a hand-written client
// needs; raw-clientv3-get+txn is exactly the requests Orbit sends, so its
// ratio to orbit is the overhead of the provider itself.
func BenchmarkEtcd(b *testing.B) {
	srv := etcdtest.Start(b)
	s, err := etcd.Open(context.Background(), etcd.Options{Endpoints: srv.Endpoints(), Prefix: "bench", RequestTimeout: 30 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close(context.Background()) })
	addrs := persistence.NewProvider("etcd", "Etcd", s).Addressables()
	raw := srv.Client(b)
	ctx := context.Background()
	lease, err := raw.Grant(ctx, 3600)
	if err != nil {
		b.Fatal(err)
	}
	const ttl = 10 * time.Minute
	const keys = 1024
	n1 := node("bench-node")
	value := make([]byte, 32)
	rawKey := func(k string) string { return "raw/a/default/Greeter/s" + k }
	rawIndex := func(k string) string { return "raw/x/default/bench-node/a/default/Greeter/s" + k }

	// Placed leases for get and renew.
	held := make([]persistence.AddressableLease, keys)
	rawRev := make([]atomic.Int64, keys)
	for i := range held {
		k := fmt.Sprint("held-", i)
		if held[i], err = addrs.Place(ctx, ref(k), n1, ttl); err != nil {
			b.Fatal(err)
		}
		r, err := raw.Put(ctx, rawKey(k), string(value), clientv3.WithLease(lease.ID))
		if err != nil {
			b.Fatal(err)
		}
		rawRev[i].Store(r.Header.Revision)
	}

	var seq atomic.Int64
	run := func(b *testing.B, fn func(i int) error) { benchutil.RunParallel(b, keys, fn) }
	rawPlaceTxn := func(k string) error {
		resp, err := raw.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(rawKey(k)), "=", 0)).
			Then(clientv3.OpPut(rawKey(k), string(value), clientv3.WithLease(lease.ID)),
				clientv3.OpPut(rawIndex(k), string(value[:12]), clientv3.WithLease(lease.ID))).Commit()
		if err == nil && !resp.Succeeded {
			err = fmt.Errorf("raw place of %s lost", k)
		}
		return err
	}
	rawRenewTxn := func(i int, k string, rev int64) error {
		resp, err := raw.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(rawKey(k)), "=", rev)).
			Then(clientv3.OpPut(rawKey(k), string(value), clientv3.WithLease(lease.ID)),
				clientv3.OpPut(rawIndex(k), string(value[:12]), clientv3.WithLease(lease.ID))).Commit()
		if err == nil && !resp.Succeeded {
			return fmt.Errorf("raw renew of %s lost", k)
		}
		if err == nil {
			rawRev[i].Store(resp.Header.Revision)
		}
		return err
	}

	b.Run("op=get", func(b *testing.B) {
		b.Run("impl=orbit", func(b *testing.B) {
			run(b, func(i int) error { _, err := addrs.Get(ctx, held[i].Reference); return err })
		})
		b.Run("impl=raw-clientv3", func(b *testing.B) {
			run(b, func(i int) error { _, err := raw.Get(ctx, rawKey(fmt.Sprint("held-", i))); return err })
		})
	})
	b.Run("op=place", func(b *testing.B) {
		b.Run("impl=orbit", func(b *testing.B) {
			run(b, func(int) error {
				_, err := addrs.Place(ctx, ref(fmt.Sprint("new-", seq.Add(1))), n1, ttl)
				return err
			})
		})
		b.Run("impl=raw-clientv3", func(b *testing.B) {
			run(b, func(int) error { return rawPlaceTxn(fmt.Sprint("new-", seq.Add(1))) })
		})
		b.Run("impl=raw-clientv3-get+txn", func(b *testing.B) {
			run(b, func(int) error {
				k := fmt.Sprint("new-", seq.Add(1))
				if _, err := raw.Get(ctx, rawKey(k)); err != nil {
					return err
				}
				return rawPlaceTxn(k)
			})
		})
	})
	b.Run("op=renew", func(b *testing.B) {
		b.Run("impl=orbit", func(b *testing.B) {
			run(b, func(i int) error {
				_, err := addrs.Renew(ctx, held[i].Reference, n1, held[i].Epoch, ttl)
				return err
			})
		})
		b.Run("impl=raw-clientv3", func(b *testing.B) {
			run(b, func(i int) error { return rawRenewTxn(i, fmt.Sprint("held-", i), rawRev[i].Load()) })
		})
		b.Run("impl=raw-clientv3-get+txn", func(b *testing.B) {
			run(b, func(i int) error {
				k := fmt.Sprint("held-", i)
				r, err := raw.Get(ctx, rawKey(k))
				if err != nil || len(r.Kvs) == 0 {
					return fmt.Errorf("raw read of %s: %v", k, err)
				}
				return rawRenewTxn(i, k, r.Kvs[0].ModRevision)
			})
		})
	})
}
