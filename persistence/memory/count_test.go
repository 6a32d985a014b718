package memory_test

import (
	"context"
	"testing"

	"github.com/orbit-go/orbit/persistence/driver"
	"github.com/orbit-go/orbit/persistence/drivertest"
	"github.com/orbit-go/orbit/persistence/memory"
)

func TestCountConformance(t *testing.T) {
	drivertest.RunCountTests(t, drivertest.Harness{
		MakeStore: func(t *testing.T) driver.Store {
			s := memory.New(memory.Options{})
			t.Cleanup(func() { _ = s.Close(context.Background()) })
			return s
		},
		Capabilities: memoryCaps,
	})
}
