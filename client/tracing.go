package client

import (
	"errors"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
)

// WithTracerProvider traces the client's calls with tp (OpenTelemetry): a
// client span per gRPC call (otelgrpc), a child of the span in the call's
// context, and the trace context sent to the server as W3C traceparent and
// baggage, so that a traced server's spans join the client's trace. Without
// this option the client installs no stats handler and sends no trace
// context. A nil tp is an error.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(o *options) error {
		if tp == nil {
			return errors.New("client: WithTracerProvider: nil tracer provider")
		}
		o.dialOpts = append(o.dialOpts, grpc.WithStatsHandler(otelgrpc.NewClientHandler(
			otelgrpc.WithTracerProvider(tp),
			otelgrpc.WithPropagators(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})),
			otelgrpc.WithMeterProvider(noop.NewMeterProvider()),
		)))
		return nil
	}
}
