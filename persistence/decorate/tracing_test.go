package decorate_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/orbit-go/orbit/persistence/decorate"
	"github.com/orbit-go/orbit/persistence/driver"
	"github.com/orbit-go/orbit/persistence/memory"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// attrsOf maps a span's attributes by key.
func attrsOf(s sdktrace.ReadOnlySpan) map[attribute.Key]attribute.Value {
	m := map[attribute.Key]attribute.Value{}
	for _, kv := range s.Attributes() {
		m[kv.Key] = kv.Value
	}
	return m
}

// TestTracedMemoryStore runs real memory-store operations under a parent
// span: each is a child span with the provider, type, operation, outcome and
// key (or count), never the value; outside a span nothing is recorded.
func TestTracedMemoryStore(t *testing.T) {
	ctx := context.Background()
	inner := memory.New(memory.Options{})
	defer inner.Close(ctx)
	measured, m := decorate.Measure(inner, "mem", "memory", nil)
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer tp.Shutdown(ctx)
	m.SetTracerProvider(tp)

	// Untraced context: no span.
	if _, err := measured.Put(ctx, "a/ns/t/s1", []byte("secret-value"), driver.Unconditional()); err != nil {
		t.Fatal(err)
	}
	if n := len(rec.Ended()); n != 0 {
		t.Fatalf("%d spans recorded for an operation without a parent span, want 0", n)
	}

	pctx, parent := tp.Tracer("test").Start(ctx, "request")
	if _, err := measured.Put(pctx, "a/ns/t/s2", []byte("secret-value"), driver.Unconditional()); err != nil {
		t.Fatal(err)
	}
	if _, err := measured.Get(pctx, "a/ns/t/missing"); !errors.Is(err, driver.ErrNotFound) {
		t.Fatalf("get of a missing key: %v, want not found", err)
	}
	if _, err := measured.Put(pctx, "a/ns/t/s2", []byte("x"), driver.CreateOnly()); !errors.Is(err, driver.ErrConflict) {
		t.Fatalf("create of an existing key: %v, want conflict", err)
	}
	tx, ok := measured.(driver.Transactional)
	if !ok {
		t.Fatal("the measured memory store is not Transactional")
	}
	ops := []driver.Op{
		{Kind: driver.OpPut, Key: "a/ns/t/s3", Value: []byte("secret-value"), Cond: driver.Unconditional()},
		{Kind: driver.OpPut, Key: "a/ns/t/s4", Value: []byte("secret-value"), Cond: driver.Unconditional()},
		{Kind: driver.OpDelete, Key: "a/ns/t/s1", Cond: driver.Unconditional()},
	}
	if _, err := tx.Txn(pctx, ops); err != nil {
		t.Fatal(err)
	}
	parent.End()

	spans := rec.Ended()
	var children []sdktrace.ReadOnlySpan
	for _, s := range spans {
		if s.Parent().SpanID() == parent.SpanContext().SpanID() {
			children = append(children, s)
		}
	}
	if len(children) != 4 {
		t.Fatalf("%d child spans of the request, want 4 (put, get, put, txn): %v", len(children), spans)
	}
	want := []struct {
		name, op, outcome string
		key               string
		count             int64
		status            codes.Code
	}{
		{"persistence.put", "put", "ok", "a/ns/t/s2", 0, codes.Unset},
		{"persistence.get", "get", "not_found", "a/ns/t/missing", 0, codes.Unset},
		{"persistence.put", "put", "conflict", "a/ns/t/s2", 0, codes.Unset},
		{"persistence.txn", "txn", "ok", "", 3, codes.Unset},
	}
	for i, w := range want {
		s := children[i]
		a := attrsOf(s)
		if s.Name() != w.name || a[decorate.AttrOperation].AsString() != w.op || a[decorate.AttrOutcome].AsString() != w.outcome {
			t.Errorf("span %d: %s op=%q outcome=%q, want %s op=%q outcome=%q", i, s.Name(), a[decorate.AttrOperation].AsString(), a[decorate.AttrOutcome].AsString(), w.name, w.op, w.outcome)
		}
		if a[decorate.AttrProvider].AsString() != "mem" || a[decorate.AttrProviderType].AsString() != "memory" {
			t.Errorf("span %d: provider %q type %q, want mem memory", i, a[decorate.AttrProvider].AsString(), a[decorate.AttrProviderType].AsString())
		}
		if got := a[decorate.AttrKey].AsString(); got != w.key {
			t.Errorf("span %d: key %q, want %q", i, got, w.key)
		}
		if got := a[decorate.AttrKeyCount].AsInt64(); got != w.count {
			t.Errorf("span %d: key count %d, want %d", i, got, w.count)
		}
		if s.Status().Code != w.status {
			t.Errorf("span %d: status %v, want %v (not found and conflict are outcomes)", i, s.Status().Code, w.status)
		}
		if s.SpanKind() != trace.SpanKindInternal {
			t.Errorf("span %d: kind %v, want internal for an in-process store", i, s.SpanKind())
		}
		for _, kv := range s.Attributes() {
			if kv.Value.Type() == attribute.STRING && (kv.Value.AsString() == "secret-value" || kv.Value.AsString() == "x") {
				t.Errorf("span %d: attribute %s carries a value payload", i, kv.Key)
			}
		}
	}
}

// TestTracedFailureStatus: a failing operation (the store is closed) sets
// the span's status to Error with the code, not the driver's message.
func TestTracedFailureStatus(t *testing.T) {
	ctx := context.Background()
	inner := memory.New(memory.Options{})
	measured, m := decorate.Measure(inner, "mem", "memory", nil)
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer tp.Shutdown(ctx)
	m.SetTracerProvider(tp)
	if err := inner.Close(ctx); err != nil {
		t.Fatal(err)
	}
	pctx, parent := tp.Tracer("test").Start(ctx, "request")
	_, err := measured.Get(pctx, "a/ns/t/k")
	parent.End()
	if err == nil {
		t.Fatal("get on a closed store succeeded")
	}
	i := slices.IndexFunc(rec.Ended(), func(s sdktrace.ReadOnlySpan) bool { return s.Name() == "persistence.get" })
	if i < 0 {
		t.Fatal("no persistence.get span")
	}
	s := rec.Ended()[i]
	code := decorate.ErrorCode(err)
	if got := attrsOf(s)[decorate.AttrOutcome].AsString(); got != code || code == "ok" {
		t.Fatalf("outcome %q, want the error code %q", got, code)
	}
	if s.Status().Code != codes.Error || s.Status().Description != code {
		t.Fatalf("status %+v, want Error %q", s.Status(), code)
	}
}

// TestUntracedAllocatesNothingMore: without a tracer provider an operation
// under a recording span allocates exactly what it does undecorated.
func TestUntracedAllocatesNothingMore(t *testing.T) {
	ctx := context.Background()
	inner := memory.New(memory.Options{})
	defer inner.Close(ctx)
	measured, _ := decorate.Measure(inner, "mem", "memory", nil)
	tp := sdktrace.NewTracerProvider()
	defer tp.Shutdown(ctx)
	pctx, parent := tp.Tracer("test").Start(ctx, "request")
	defer parent.End()
	if _, err := inner.Put(ctx, "a/k", []byte("v"), driver.Unconditional()); err != nil {
		t.Fatal(err)
	}
	raw := testing.AllocsPerRun(200, func() { _, _ = inner.Get(pctx, "a/k") })
	dec := testing.AllocsPerRun(200, func() { _, _ = measured.Get(pctx, "a/k") })
	if dec != raw {
		t.Fatalf("untraced decorated get allocates %.1f, the store itself %.1f", dec, raw)
	}
}

// BenchmarkTracedGet is one memory-store get: the store itself, measured
// untraced (tracing off), traced without a span in the context (a
// background operation) and traced under a recording span.
func BenchmarkTracedGet(b *testing.B) {
	ctx := context.Background()
	inner := memory.New(memory.Options{})
	defer inner.Close(ctx)
	if _, err := inner.Put(ctx, "a/k", []byte("v"), driver.Unconditional()); err != nil {
		b.Fatal(err)
	}
	untraced, _ := decorate.Measure(inner, "mem", "memory", nil)
	traced, m := decorate.Measure(inner, "mem", "memory", nil)
	tp := sdktrace.NewTracerProvider() // records, exports nowhere
	defer tp.Shutdown(ctx)
	m.SetTracerProvider(tp)
	pctx, parent := tp.Tracer("bench").Start(ctx, "request")
	defer parent.End()
	for _, c := range []struct {
		name  string
		store driver.Store
		ctx   context.Context
	}{
		{"store", inner, pctx},
		{"off", untraced, pctx},
		{"on-no-parent", traced, ctx},
		{"on", traced, pctx},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _ = c.store.Get(c.ctx, "a/k")
			}
		})
	}
}
