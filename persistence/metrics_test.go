package persistence_test

import (
	"context"
	"testing"
	"time"

	"github.com/orbit-go/orbit/clock"
	"github.com/orbit-go/orbit/persistence"
	"github.com/orbit-go/orbit/persistence/driver"
	"github.com/orbit-go/orbit/persistence/memory"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// remoteStore hides the memory store's driver.InProcess marker, so that
// the metrics decorator treats it like a backend across the network.
type remoteStore struct{ driver.Store }

// gathered returns the value of the operations counter and the sample
// count of the duration histogram of provider/operation.
func gathered(t *testing.T, reg *prometheus.Registry, provider, op string) (ops float64, timed uint64, found bool) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	match := func(m *dto.Metric) bool {
		var p, o bool
		for _, l := range m.GetLabel() {
			p = p || (l.GetName() == "provider" && l.GetValue() == provider)
			o = o || (l.GetName() == "operation" && l.GetValue() == op)
		}
		return p && o
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if !match(m) {
				continue
			}
			switch mf.GetName() {
			case "orbit_persistence_operations_total":
				ops, found = m.GetCounter().GetValue(), true
			case "orbit_persistence_operation_duration_seconds":
				timed = m.GetHistogram().GetSampleCount()
			}
		}
	}
	return ops, timed, found
}

func TestMetricsCountEveryOperationAndSampleInProcessLatency(t *testing.T) {
	t0 := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	ctx := context.Background()
	const gets = 4000
	for _, tc := range []struct {
		name      string
		store     driver.Store
		inProcess bool
	}{
		{"in-process", memory.New(memory.Options{}), true},
		{"remote", remoteStore{memory.New(memory.Options{})}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			p := persistence.NewProvider(tc.name, "Memory", tc.store, persistence.WithMetricsRegisterer(reg), persistence.WithClock(clock.NewManual(t0)))
			ref := persistence.AddressableReference{Namespace: "default", Type: "T", Key: persistence.Int32Key(1)}
			if _, err := p.Addressables().Place(ctx, ref, persistence.NodeID{Namespace: "default", Key: "n1"}, time.Minute); err != nil {
				t.Fatal(err)
			}
			before := p.Metrics()
			ops0, timed0, _ := gathered(t, reg, tc.name, "get")
			for i := 0; i < gets; i++ {
				if _, err := p.Addressables().Get(ctx, ref); err != nil {
					t.Fatal(err)
				}
			}
			after := p.Metrics()
			if n := after.ReadOperations - before.ReadOperations; n != gets {
				t.Errorf("ReadOperations grew by %d over %d gets, want exactly %d", n, gets, gets)
			}
			if after.ReadLatencyAvg <= 0 {
				t.Errorf("ReadLatencyAvg = %v, want > 0", after.ReadLatencyAvg)
			}
			ops1, timed1, found := gathered(t, reg, tc.name, "get")
			if !found || ops1-ops0 != gets {
				t.Errorf("orbit_persistence_operations_total{operation=get} grew by %v (found %v), want exactly %d", ops1-ops0, found, gets)
			}
			timed := timed1 - timed0
			if tc.inProcess {
				// One in InProcessSampleEvery, at random: expect 250 of
				// 4,000 (standard deviation 15); the bounds are 8 of them.
				want := float64(gets) / persistence.InProcessSampleEvery
				if float64(timed) < want-125 || float64(timed) > want+125 {
					t.Errorf("%d of %d gets timed, want about %.0f", timed, gets, want)
				}
			} else if timed != gets {
				t.Errorf("%d of %d gets timed by a remote backend's decorator, want every one", timed, gets)
			}
			if err := p.Close(ctx); err != nil {
				t.Fatal(err)
			}
			if _, _, found := gathered(t, reg, tc.name, "get"); found {
				t.Error("the operations counter of a closed provider is still exported")
			}
		})
	}
}

// A provider opened again under the same name with the same metrics option
// (a restart, a migration) takes over the name's counter instead of failing.
func TestMetricsReopenSameName(t *testing.T) {
	reg := prometheus.NewRegistry()
	ctx := context.Background()
	exported := persistence.WithMetricsRegisterer(reg)
	a := persistence.NewProvider("p", "Memory", memory.New(memory.Options{}), exported)
	b := persistence.NewProvider("p", "Memory", memory.New(memory.Options{}), exported)
	ref := persistence.AddressableReference{Namespace: "default", Type: "T", Key: persistence.Int32Key(1)}
	for i := 0; i < 3; i++ {
		_, _ = b.Addressables().Get(ctx, ref)
	}
	if ops, _, found := gathered(t, reg, "p", "get"); !found || ops != 3 {
		t.Fatalf("operations_total{p,get} = %v (found %v), want the reopened provider's 3", ops, found)
	}
	// Closing the replaced provider leaves its successor's counter.
	_ = a.Close(ctx)
	if ops, _, found := gathered(t, reg, "p", "get"); !found || ops != 3 {
		t.Fatalf("after closing the replaced provider, operations_total{p,get} = %v (found %v), want 3", ops, found)
	}
	_ = b.Close(ctx)
	if _, _, found := gathered(t, reg, "p", "get"); found {
		t.Fatal("the counter survived closing its provider")
	}
}

// The error series of every operation and failure code exist at 0 from the
// provider's start (a rate over them is 0, not absent), and a failure
// counts under its code.
func TestMetricsErrorSeriesInitialised(t *testing.T) {
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	store := memory.New(memory.Options{})
	p := persistence.NewProvider("m", "Memory", store, persistence.WithMetricsRegisterer(reg))
	defer func() { _ = p.Close(ctx) }()
	errorsOf := func(op, code string) (float64, bool) {
		t.Helper()
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() != "orbit_persistence_operation_errors_total" {
				continue
			}
			for _, m := range mf.GetMetric() {
				l := map[string]string{}
				for _, lp := range m.GetLabel() {
					l[lp.GetName()] = lp.GetValue()
				}
				if l["provider"] == "m" && l["operation"] == op && l["code"] == code {
					return m.GetCounter().GetValue(), true
				}
			}
		}
		return 0, false
	}
	for _, code := range []string{"unavailable", "closed", "unknown", "fenced"} {
		if v, ok := errorsOf("get", code); !ok || v != 0 {
			t.Errorf("errors_total{operation=get,code=%s} = %v (present %v) before any failure, want 0 and present", code, v, ok)
		}
	}
	for _, outcome := range []string{"not_found", "conflict"} {
		if _, ok := errorsOf("get", outcome); ok {
			t.Errorf("errors_total{code=%s} exported: it is an outcome, not an error", outcome)
		}
	}
	if err := store.Close(ctx); err != nil { // the backend goes away under the provider
		t.Fatal(err)
	}
	ref := persistence.AddressableReference{Namespace: "default", Type: "T", Key: persistence.Int32Key(1)}
	if _, err := p.Addressables().Get(ctx, ref); err == nil {
		t.Fatal("Get on a closed store succeeded")
	}
	if v, _ := errorsOf("get", "closed"); v != 1 {
		t.Errorf("errors_total{operation=get,code=closed} = %v after one failed get, want 1", v)
	}
}
