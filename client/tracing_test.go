package client_test

import (
	"context"
	"testing"
	"time"

	"github.com/orbit-go/orbit/client"
	otelcodes "go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// TestClientTracing: with WithTracerProvider every call is a client span,
// a child of the span in the call's context, named by the full method and
// marked Error when the call fails; a nil provider is refused.
func TestClientTracing(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := client.Dial(ctx, "127.0.0.1:1", client.WithTracerProvider(nil)); err == nil {
		t.Fatal("Dial accepted a nil tracer provider")
	}
	srv := startServer(t, shortTimings())
	spans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	c, err := client.Dial(ctx, srv.Addr(), client.WithTracerProvider(tp))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	n := joinGreeter(t, c, "traced", nil)
	defer n.Detach()

	pctx, parent := tp.Tracer("test").Start(ctx, "caller")
	if _, placed, err := c.LocateOrPlace(pctx, greeter("a")); err != nil || !placed {
		t.Fatalf("LocateOrPlace: %v, %v", placed, err)
	}
	if _, err := c.Lookup(pctx, greeter("never-placed")); err == nil {
		t.Fatal("Lookup of an unplaced addressable succeeded")
	}
	parent.End()

	want := map[string]otelcodes.Code{
		"orbit.v1.AddressableService/LocateOrPlace": otelcodes.Unset,
		"orbit.v1.AddressableService/Lookup":        otelcodes.Error,
	}
	for _, sp := range spans.GetSpans() {
		code, ok := want[sp.Name]
		if !ok || sp.Parent.SpanID() != parent.SpanContext().SpanID() {
			continue
		}
		if sp.SpanKind != trace.SpanKindClient || sp.SpanContext.TraceID() != parent.SpanContext().TraceID() {
			t.Errorf("span %s: kind %v trace %s, want a client span in trace %s", sp.Name, sp.SpanKind, sp.SpanContext.TraceID(), parent.SpanContext().TraceID())
		}
		if sp.Status.Code != code {
			t.Errorf("span %s: status %v, want %v", sp.Name, sp.Status.Code, code)
		}
		delete(want, sp.Name)
	}
	if len(want) != 0 {
		t.Fatalf("no client span under the caller's span for %v", want)
	}
}
