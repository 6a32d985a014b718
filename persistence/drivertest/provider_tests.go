package drivertest

import (
	"errors"
	"testing"

	"github.com/orbit-go/orbit/persistence"
)

func (h Harness) runProviderTests(t *testing.T) {
	t.Run("HealthAndMetrics", func(t *testing.T) {
		e := h.newEnv(t)
		if err := e.p.Init(e.ctx); err != nil {
			t.Fatalf("Init: %v", err)
		}
		if hs := e.p.HealthCheck(e.ctx); hs.Status != persistence.Healthy {
			t.Fatalf("health = %s (%s), want Healthy", hs.Status, hs.Reason)
		}
		before := e.p.Metrics()
		if _, err := e.addrs.Place(e.ctx, ref("m"), node("n1"), ttl); err != nil {
			t.Fatal(err)
		}
		if _, err := e.addrs.Get(e.ctx, ref("m")); err != nil {
			t.Fatal(err)
		}
		if err := e.nodes.Remove(e.ctx, node("n1")); err != nil {
			t.Fatal(err)
		}
		after := e.p.Metrics()
		if after.ReadOperations < before.ReadOperations+1 || after.WriteOperations <= before.WriteOperations ||
			after.DeleteOperations <= before.DeleteOperations {
			t.Fatalf("metrics did not count the operations: before %+v after %+v", before, after)
		}
		if err := e.p.Close(e.ctx); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if hs := e.p.HealthCheck(e.ctx); hs.Status != persistence.Unhealthy {
			t.Fatalf("health after Close = %s, want Unhealthy", hs.Status)
		}
		if _, err := e.addrs.Get(e.ctx, ref("m")); !errors.Is(err, persistence.ErrClosed) {
			t.Fatalf("Get after Close = %v, want ErrClosed", err)
		}
		if err := e.p.Close(e.ctx); !errors.Is(err, persistence.ErrClosed) {
			t.Fatalf("second Close = %v, want ErrClosed", err)
		}
	})
}
