package etcd_test

import (
	"fmt"
	"testing"

	"github.com/orbit-go/orbit/internal/testbackend/etcdtest"
	"github.com/orbit-go/orbit/persistence/drivertest"
)

// go test -run '^$' -bench BenchmarkCountLeases ./persistence/etcd/
func BenchmarkCountLeases(b *testing.B) {
	srv := etcdtest.Start(b)
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			drivertest.BenchCountLeases(b, openStore(b, testOptions(srv), fmt.Sprint("count-bench-", n)), n)
		})
	}
}
