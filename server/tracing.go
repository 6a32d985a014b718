package server

import (
	"strings"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/stats"
)

// WithTracerProvider traces the server with tp (OpenTelemetry): a server
// span per gRPC call (otelgrpc, W3C trace context and baggage propagated
// from the caller), and under it a span per storage driver operation of the
// providers the server opens (persistence.WithTracerProvider; a registry
// given with WithRegistry is traced only if it was opened with that option).
// Health checks (grpc.health.v1) are not traced. nil, the default, turns
// tracing off: no stats handler is installed and nothing is recorded.
func (b *Builder) WithTracerProvider(tp trace.TracerProvider) *Builder { b.tracer = tp; return b }

// propagator is the trace context propagation of the server and the
// client: W3C traceparent/tracestate and baggage.
func propagator() propagation.TextMapPropagator {
	return propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
}

// tracingOptions are the gRPC server options that trace calls (none while
// tracing is off).
func (s *Server) tracingOptions() []grpc.ServerOption {
	if s.tracer == nil {
		return nil
	}
	return []grpc.ServerOption{grpc.StatsHandler(otelgrpc.NewServerHandler(
		otelgrpc.WithTracerProvider(s.tracer),
		otelgrpc.WithPropagators(propagator()),
		otelgrpc.WithMeterProvider(noop.NewMeterProvider()), // the server's metrics are Prometheus'
		otelgrpc.WithFilter(notHealthCheck),
	))}
}

// notHealthCheck keeps health checks (probed every few seconds) out of the traces.
func notHealthCheck(info *stats.RPCTagInfo) bool {
	return !strings.HasPrefix(info.FullMethodName, "/grpc.health.v1.Health/")
}
