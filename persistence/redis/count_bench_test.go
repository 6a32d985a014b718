package redis_test

import (
	"fmt"
	"testing"

	"github.com/orbit-go/orbit/internal/testbackend/redistest"
	"github.com/orbit-go/orbit/persistence/drivertest"
)

// go test -run '^$' -bench BenchmarkCountLeases ./persistence/redis/
func BenchmarkCountLeases(b *testing.B) {
	srv := redistest.Start(b)
	for _, n := range []int{10_000, 100_000, 1_000_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			c := redisConfig(srv.URL())
			c.Prefix = fmt.Sprint("count-bench-", n)
			drivertest.BenchCountLeases(b, openConfig(b, c), n)
		})
	}
}
