package redis_test

import (
	"testing"

	"github.com/orbit-go/orbit/internal/testbackend/redistest"
	"github.com/orbit-go/orbit/persistence/drivertest"
)

func TestCountConformance(t *testing.T) {
	srv := redistest.Start(t)
	drivertest.RunCountTests(t, harness(redisConfig(srv.URL()), standaloneCaps))
}
