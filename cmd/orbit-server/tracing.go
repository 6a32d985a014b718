package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Tracing of serve, configured by OpenTelemetry's standard environment
// variables and off by default. It is on when OTEL_TRACES_EXPORTER=otlp,
// or when that variable is unset and OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is; OTEL_SDK_DISABLED=true turns it
// off whatever else is set. The OTLP exporter reads the rest itself
// (endpoints, headers, TLS, timeout, compression); the protocol is
// OTEL_EXPORTER_OTLP_TRACES_PROTOCOL or OTEL_EXPORTER_OTLP_PROTOCOL
// ("http/protobuf", the default, or "grpc"); the sampler is
// OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG (default
// parentbased_always_on); the resource is service.name "orbit-server"
// and service.version, overridden by OTEL_SERVICE_NAME and
// OTEL_RESOURCE_ATTRIBUTES.

// Environment variables read here (the exporter and the SDK read more).
const (
	envSDKDisabled    = "OTEL_SDK_DISABLED"
	envTracesExporter = "OTEL_TRACES_EXPORTER"
	envEndpoint       = "OTEL_EXPORTER_OTLP_ENDPOINT"
	envTracesEndpoint = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
	envProtocol       = "OTEL_EXPORTER_OTLP_PROTOCOL"
	envTracesProtocol = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
	envSampler        = "OTEL_TRACES_SAMPLER"
)

// Protocols of the OTLP exporter.
const (
	protocolHTTP = "http/protobuf"
	protocolGRPC = "grpc"
)

// errTracingEnv: an OTEL_* variable has a value serve does not support.
var errTracingEnv = errors.New("tracing configuration")

// tracingSetup is what the environment asks for.
type tracingSetup struct {
	on       bool
	protocol string // protocolHTTP or protocolGRPC
	endpoint string // where spans go, for the start line (no credentials)
	sampler  string
}

// tracingFromEnv reads the variables through getenv.
func tracingFromEnv(getenv func(string) string) (tracingSetup, error) {
	if v := strings.TrimSpace(getenv(envSDKDisabled)); strings.EqualFold(v, "true") {
		return tracingSetup{}, nil
	}
	var st tracingSetup
	switch exp := strings.ToLower(strings.TrimSpace(getenv(envTracesExporter))); exp {
	case "":
		st.on = getenv(envEndpoint) != "" || getenv(envTracesEndpoint) != ""
	case "none":
		return tracingSetup{}, nil
	case "otlp":
		st.on = true
	default:
		return tracingSetup{}, fmt.Errorf("%w: %s=%q is not supported: want otlp or none", errTracingEnv, envTracesExporter, exp)
	}
	if !st.on {
		return st, nil
	}
	st.protocol, st.endpoint = protocolHTTP, "http://localhost:4318/v1/traces"
	name := envTracesProtocol
	p := getenv(envTracesProtocol)
	if p == "" {
		name, p = envProtocol, getenv(envProtocol)
	}
	switch p = strings.ToLower(strings.TrimSpace(p)); p {
	case "", protocolHTTP:
	case protocolGRPC:
		st.protocol, st.endpoint = protocolGRPC, "http://localhost:4317"
	default:
		return tracingSetup{}, fmt.Errorf("%w: %s=%q is not supported: want http/protobuf or grpc", errTracingEnv, name, p)
	}
	switch {
	case getenv(envTracesEndpoint) != "":
		st.endpoint = redactURL(getenv(envTracesEndpoint))
	case getenv(envEndpoint) != "":
		st.endpoint = redactURL(getenv(envEndpoint))
	}
	st.sampler = getenv(envSampler)
	if st.sampler == "" {
		st.sampler = "parentbased_always_on"
	}
	return st, nil
}

// redactURL drops the user information of an endpoint URL (it could
// carry a password); a value that does not parse is not logged.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable endpoint)"
	}
	u.User = nil
	return u.String()
}

// startTracing builds the tracer provider the environment asks for, or
// returns nil (tracing off, no exporter created). The returned stop
// flushes the spans still buffered and closes the exporter; it is a no-op
// when tracing is off. It logs whether tracing is on and where it
// exports (never the headers: they carry API keys).
func startTracing(ctx context.Context, log *slog.Logger) (trace.TracerProvider, func(context.Context) error, error) {
	st, err := tracingFromEnv(os.Getenv)
	if err != nil {
		return nil, nil, err
	}
	if !st.on {
		log.Info("tracing off", "enable_with", envTracesExporter+"=otlp")
		return nil, func(context.Context) error { return nil }, nil
	}
	tp, err := newTracerProvider(ctx, st)
	if err != nil {
		return nil, nil, err
	}
	log.Info("tracing on", "exporter", "otlp", "protocol", st.protocol, "endpoint", st.endpoint, "sampler", st.sampler)
	return tp, tp.Shutdown, nil
}

// newTracerProvider is the SDK provider exporting through OTLP with a
// batching span processor.
func newTracerProvider(ctx context.Context, st tracingSetup) (*sdktrace.TracerProvider, error) {
	var exp *otlptrace.Exporter
	var err error
	if st.protocol == protocolGRPC {
		exp, err = otlptracegrpc.New(ctx)
	} else {
		exp, err = otlptracehttp.New(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("tracing: OTLP exporter: %w", err)
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", "orbit-server"), attribute.String("service.version", buildVersion())),
		resource.WithTelemetrySDK(),
		resource.WithFromEnv()) // OTEL_RESOURCE_ATTRIBUTES, OTEL_SERVICE_NAME: last, so they win
	if err != nil {
		_ = exp.Shutdown(ctx)
		return nil, fmt.Errorf("tracing: resource: %w", err)
	}
	return sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res)), nil
}

// flushTimeout bounds the flush of the spans at exit.
const flushTimeout = 5 * time.Second

// stopTracing flushes and closes the exporter (stop from startTracing),
// logging a failure.
func stopTracing(log *slog.Logger, stop func(context.Context) error) {
	ctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
	defer cancel()
	if err := stop(ctx); err != nil {
		log.Warn("flushing the traces failed", "error", err)
	}
}
