package drivertest

import (
	"context"
	"fmt"
	"testing"

	"github.com/orbit-go/orbit/persistence"
	"github.com/orbit-go/orbit/persistence/driver"
)

// FillLeaseKeys writes n lease-shaped keys of namespace "default" and n/10
// of namespace "other" into s, for the count benchmarks, in batches when
// the driver has them (Batcher, else Transactional, else one Put each).
// The values are not lease records: CountLeases reads only keys.
func FillLeaseKeys(tb testing.TB, s driver.Store, n int) {
	tb.Helper()
	ctx := context.Background()
	keys := make([]string, 0, n+n/10)
	for i := range n {
		keys = append(keys, fmt.Sprintf("a/default/Greeter/s%08d", i))
	}
	for i := range n / 10 {
		keys = append(keys, fmt.Sprintf("a/other/Greeter/s%08d", i))
	}
	val := []byte("lease")
	switch {
	case asBatcher(s) != nil:
		b := asBatcher(s)
		for start := 0; start < len(keys); start += 1000 {
			ops := make([]driver.Op, 0, 1000)
			for _, k := range keys[start:min(start+1000, len(keys))] {
				ops = append(ops, driver.Op{Kind: driver.OpPut, Key: k, Value: val, Cond: driver.Unconditional()})
			}
			if _, err := b.ApplyMany(ctx, ops); err != nil {
				tb.Fatal(err)
			}
		}
	case asTxn(s) != nil:
		tx := asTxn(s)
		step := max(1, min(tx.MaxTxnOps(), 1000))
		for start := 0; start < len(keys); start += step {
			ops := make([]driver.Op, 0, step)
			for _, k := range keys[start:min(start+step, len(keys))] {
				ops = append(ops, driver.Op{Kind: driver.OpPut, Key: k, Value: val, Cond: driver.Unconditional()})
			}
			if _, err := tx.Txn(ctx, ops); err != nil {
				tb.Fatal(err)
			}
		}
	default:
		for _, k := range keys {
			if _, err := s.Put(ctx, k, val, driver.Unconditional()); err != nil {
				tb.Fatal(err)
			}
		}
	}
}

func asBatcher(s driver.Store) driver.Batcher {
	b, _ := s.(driver.Batcher)
	return b
}

func asTxn(s driver.Store) driver.Transactional {
	t, _ := s.(driver.Transactional)
	return t
}

// BenchCountLeases measures one refresh's lease count of namespace
// "default" holding n leases (persistence.CountLeases through a provider
// over s, metrics decorator included) and checks the count.
func BenchCountLeases(b *testing.B, s driver.Store, n int) {
	FillLeaseKeys(b, s, n)
	p := persistence.NewProvider("bench", "bench", s)
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		got, err := persistence.CountLeases(ctx, p.Addressables(), "default")
		if err != nil {
			b.Fatal(err)
		}
		if got != int64(n) {
			b.Fatalf("CountLeases = %d, want %d", got, n)
		}
	}
}
