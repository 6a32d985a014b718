package persistence

import "go.opentelemetry.io/otel/trace"

// WithTracerProvider traces the providers' driver operations with tp: an
// operation called with a context that carries a span (a traced gRPC call
// of the server, say) gets a child span "persistence.<operation>" with the
// attributes of decorate.SetTracerProvider (provider name and type,
// operation, outcome, the storage key or prefix, or a batch's key count;
// never a value). nil, the default, traces nothing and costs nothing.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(o *options) { o.tracer = tp }
}
