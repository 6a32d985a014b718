package memory_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/orbit-go/orbit/persistence/drivertest"
	"github.com/orbit-go/orbit/persistence/memory"
)

// go test -run '^$' -bench BenchmarkCountLeases ./persistence/memory/
func BenchmarkCountLeases(b *testing.B) {
	for _, n := range []int{10_000, 100_000, 1_000_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			s := memory.New(memory.Options{})
			b.Cleanup(func() { _ = s.Close(context.Background()) })
			drivertest.BenchCountLeases(b, s, n)
		})
	}
}
