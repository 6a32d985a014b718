package server_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/orbit-go/orbit"
	orbitv1 "github.com/orbit-go/orbit/api/orbit/v1"
	"github.com/orbit-go/orbit/client"
	"github.com/orbit-go/orbit/internal/testbackend/etcdtest"
	"github.com/orbit-go/orbit/persistence/config"
	"github.com/orbit-go/orbit/persistence/decorate"
	"github.com/orbit-go/orbit/server"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// etcdConfig is a configuration whose default providers are one etcd
// provider "etcd" on a new embedded etcd server.
func etcdConfig(t *testing.T, prefix string) *config.Config {
	t.Helper()
	c := config.DefaultEtcdConfig()
	c.Endpoints, c.Prefix = etcdtest.Start(t).Endpoints(), fmt.Sprint(prefix, "-", time.Now().UnixNano())
	cfg, err := config.NewBuilder().WithEtcd("etcd", c, true).Build()
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// tracedServer starts a server on cfg traced by tp (nil: untraced).
func tracedServer(t *testing.T, cfg *config.Config, tp trace.TracerProvider, b func(*server.Builder) *server.Builder) *server.Server {
	t.Helper()
	bld := server.NewBuilder().WithListenAddress("127.0.0.1:0").WithAdminAddress("").WithPersistence(cfg).WithLogger(quiet)
	if tp != nil {
		bld = bld.WithTracerProvider(tp)
	}
	if b != nil {
		bld = b(bld)
	}
	s, err := bld.Build(bg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(bg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop(bg) })
	return s
}

// TestTraceLocateOrPlaceOnEtcd traces both ends of one LocateOrPlace on
// etcd with the SDK's in-memory exporter: the client span, the server span
// as its child in the same trace, and the persistence spans of the etcd
// provider under the server span.
func TestTraceLocateOrPlaceOnEtcd(t *testing.T) {
	ctx, cancel := context.WithTimeout(bg, time.Minute)
	defer cancel()
	serverSpans, clientSpans := tracetest.NewInMemoryExporter(), tracetest.NewInMemoryExporter()
	stp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(serverSpans))
	ctp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(clientSpans))
	t.Cleanup(func() { _ = stp.Shutdown(bg); _ = ctp.Shutdown(bg) })
	s := tracedServer(t, etcdConfig(t, "trace"), stp, nil)

	c, err := client.Dial(ctx, s.Addr(), client.WithTracerProvider(ctp))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	n, err := c.Join(ctx, client.NodeOptions{URL: "grpc://127.0.0.1:1", Capabilities: orbit.NodeCapabilities{AddressableTypes: []string{"Greeter"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Detach()
	clientSpans.Reset()
	serverSpans.Reset()

	ref := orbit.AddressableReference{Type: "Greeter", Key: orbit.StringKey("traced")}
	if _, placed, err := c.LocateOrPlace(ctx, ref); err != nil || !placed {
		t.Fatalf("LocateOrPlace: placed %v, %v", placed, err)
	}

	const method = "orbit.v1.AddressableService/LocateOrPlace"
	var cs *tracetest.SpanStub
	for _, sp := range clientSpans.GetSpans() {
		if sp.Name == method && sp.SpanKind == trace.SpanKindClient {
			cs = &sp
		}
	}
	if cs == nil {
		t.Fatalf("no client span %s among %d", method, len(clientSpans.GetSpans()))
	}
	byID := map[trace.SpanID]tracetest.SpanStub{}
	var ss *tracetest.SpanStub
	for _, sp := range serverSpans.GetSpans() {
		if sp.SpanContext.TraceID() != cs.SpanContext.TraceID() {
			continue
		}
		byID[sp.SpanContext.SpanID()] = sp
		if sp.Name == method && sp.SpanKind == trace.SpanKindServer {
			ss = &sp
		}
	}
	if ss == nil {
		t.Fatalf("no server span %s in the client's trace %s", method, cs.SpanContext.TraceID())
	}
	if ss.Parent.SpanID() != cs.SpanContext.SpanID() {
		t.Fatalf("the server span's parent is %s, want the client span %s", ss.Parent.SpanID(), cs.SpanContext.SpanID())
	}
	under := func(sp tracetest.SpanStub) bool { // sp descends from the server span
		for range len(byID) {
			p := sp.Parent.SpanID()
			if p == ss.SpanContext.SpanID() {
				return true
			}
			var ok bool
			if sp, ok = byID[p]; !ok {
				return false
			}
		}
		return false
	}
	var persisted []string
	for _, sp := range byID {
		a := map[string]string{}
		for _, kv := range sp.Attributes {
			a[string(kv.Key)] = kv.Value.Emit()
		}
		if a[string(decorate.AttrOperation)] == "" {
			continue
		}
		if !under(sp) {
			t.Errorf("persistence span %s is not under the server span", sp.Name)
		}
		if a[string(decorate.AttrProvider)] != "etcd" || !strings.EqualFold(a[string(decorate.AttrProviderType)], "etcd") {
			t.Errorf("persistence span %s: provider %q type %q, want etcd, Etcd", sp.Name, a[string(decorate.AttrProvider)], a[string(decorate.AttrProviderType)])
		}
		if sp.SpanKind != trace.SpanKindClient {
			t.Errorf("persistence span %s: kind %v, want client (etcd is remote)", sp.Name, sp.SpanKind)
		}
		persisted = append(persisted, sp.Name+" "+a[string(decorate.AttrOutcome)])
	}
	found := false
	for _, p := range persisted {
		found = found || p == "persistence.txn ok" || p == "persistence.put ok"
	}
	if !found {
		t.Fatalf("no successful persistence write span under the server span; persistence spans: %v", persisted)
	}
	t.Logf("trace %s: client span, server span, persistence spans %v", cs.SpanContext.TraceID(), persisted)
}

// TestTracingOffByDefault: a server built without a tracer provider
// traces nothing, not even through OpenTelemetry's global provider, when a
// traced client sends it its trace context.
func TestTracingOffByDefault(t *testing.T) {
	ctx, cancel := context.WithTimeout(bg, time.Minute)
	defer cancel()
	global := tracetest.NewInMemoryExporter()
	gtp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(global))
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(gtp)
	t.Cleanup(func() { otel.SetTracerProvider(prev); _ = gtp.Shutdown(bg) })
	clientSpans := tracetest.NewInMemoryExporter()
	ctp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(clientSpans))
	t.Cleanup(func() { _ = ctp.Shutdown(bg) })

	s := tracedServer(t, memoryConfig(t), nil, nil)
	c, err := client.Dial(ctx, s.Addr(), client.WithTracerProvider(ctp))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	n, err := c.Join(ctx, client.NodeOptions{URL: "grpc://127.0.0.1:1", Capabilities: orbit.NodeCapabilities{AddressableTypes: []string{"Greeter"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Detach()
	if _, _, err := c.LocateOrPlace(ctx, orbit.AddressableReference{Type: "Greeter", Key: orbit.StringKey("x")}); err != nil {
		t.Fatal(err)
	}
	if len(clientSpans.GetSpans()) == 0 {
		t.Fatal("the client recorded no span: the test does not exercise tracing")
	}
	if got := global.GetSpans(); len(got) != 0 {
		t.Fatalf("an untraced server recorded %d spans (first %s)", len(got), got[0].Name)
	}
}

// memoryConfig is one in-memory provider, default for both directories.
func memoryConfig(t *testing.T) *config.Config {
	t.Helper()
	cfg, err := config.NewBuilder().WithMemory("memory", config.DefaultMemoryConfig(), true).Build()
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestHealthChecksUntraced: the probes of grpc.health.v1 make no span; the
// other calls of the same connection do.
func TestHealthChecksUntraced(t *testing.T) {
	spans := tracetest.NewInMemoryExporter()
	stp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	t.Cleanup(func() { _ = stp.Shutdown(bg) })
	s := tracedServer(t, memoryConfig(t), stp, nil)
	conn, err := grpc.NewClient(s.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := healthpb.NewHealthClient(conn).Check(bg, &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatal(err)
	}
	if _, err := orbitv1.NewAddressableServiceClient(conn).Lookup(bg, &orbitv1.LookupRequest{Reference: sref("", "Greeter", "a")}); err == nil {
		t.Fatal("lookup of an unplaced addressable succeeded")
	}
	var names []string
	for _, sp := range spans.GetSpans() {
		names = append(names, sp.Name)
	}
	if !slices.Contains(names, "orbit.v1.AddressableService/Lookup") || slices.ContainsFunc(names, func(n string) bool { return strings.HasPrefix(n, "grpc.health") }) {
		t.Fatalf("server spans %v, want the lookup's and no health check's", names)
	}
}
