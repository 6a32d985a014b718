package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
)

// allTracingVars are cleared by the tests so that the machine's
// environment does not leak in.
var allTracingVars = []string{envSDKDisabled, envTracesExporter, envEndpoint, envTracesEndpoint, envProtocol, envTracesProtocol,
	envSampler, "OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES", "OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS"}

func TestTracingFromEnv(t *testing.T) {
	cases := []struct {
		name     string
		env      map[string]string
		on       bool
		protocol string
		endpoint string
		errVar   string // the variable an error must name
	}{
		{name: "nothing set: off", env: nil},
		{name: "exporter otlp", env: map[string]string{envTracesExporter: "otlp"}, on: true, protocol: protocolHTTP, endpoint: "http://localhost:4318/v1/traces"},
		{name: "endpoint alone", env: map[string]string{envEndpoint: "http://collector:4318"}, on: true, protocol: protocolHTTP, endpoint: "http://collector:4318"},
		{name: "traces endpoint alone, grpc", env: map[string]string{envTracesEndpoint: "https://u:secret@collector:4317", envProtocol: "grpc"}, on: true, protocol: protocolGRPC, endpoint: "https://collector:4317"},
		{name: "traces protocol wins", env: map[string]string{envTracesExporter: "otlp", envProtocol: "grpc", envTracesProtocol: "http/protobuf"}, on: true, protocol: protocolHTTP, endpoint: "http://localhost:4318/v1/traces"},
		{name: "exporter none beats an endpoint", env: map[string]string{envTracesExporter: "none", envEndpoint: "http://collector:4318"}},
		{name: "sdk disabled wins", env: map[string]string{envSDKDisabled: "true", envTracesExporter: "otlp"}},
		{name: "sdk disabled wins over a bad exporter", env: map[string]string{envSDKDisabled: "TRUE", envTracesExporter: "zipkin"}},
		{name: "unknown exporter", env: map[string]string{envTracesExporter: "zipkin"}, errVar: envTracesExporter},
		{name: "unknown protocol", env: map[string]string{envTracesExporter: "otlp", envTracesProtocol: "http/json"}, errVar: envTracesProtocol},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st, err := tracingFromEnv(func(k string) string { return c.env[k] })
			if c.errVar != "" {
				if err == nil || !errors.Is(err, errTracingEnv) || !strings.Contains(err.Error(), c.errVar) {
					t.Fatalf("error %v, want one naming %s", err, c.errVar)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if st.on != c.on || st.protocol != c.protocol || st.endpoint != c.endpoint {
				t.Fatalf("got on=%v protocol=%q endpoint=%q, want on=%v protocol=%q endpoint=%q", st.on, st.protocol, st.endpoint, c.on, c.protocol, c.endpoint)
			}
			if strings.Contains(st.endpoint, "secret") {
				t.Fatal("the endpoint to log keeps its password")
			}
		})
	}
}

// TestTracingOffCreatesNothing: with no OTEL_* variable, startTracing
// returns no provider (so the server installs no handler) and says so.
func TestTracingOffCreatesNothing(t *testing.T) {
	for _, k := range allTracingVars {
		t.Setenv(k, "")
	}
	var logs bytes.Buffer
	tp, stop, err := startTracing(context.Background(), slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if tp != nil {
		t.Fatalf("tracer provider %T with tracing off", tp)
	}
	if err := stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "tracing off") {
		t.Fatalf("no start line saying tracing is off: %s", logs.String())
	}
}

// otlpReceiver is an OTLP/HTTP trace receiver on loopback: it decodes
// what the exporter posts and keeps the headers it got.
type otlpReceiver struct {
	mu      sync.Mutex
	reqs    []*coltracepb.ExportTraceServiceRequest
	headers []http.Header
}

func (r *otlpReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	m := &coltracepb.ExportTraceServiceRequest{}
	if err != nil || req.URL.Path != "/v1/traces" || proto.Unmarshal(body, m) != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	r.reqs, r.headers = append(r.reqs, m), append(r.headers, req.Header.Clone())
	r.mu.Unlock()
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

// TestTracingExportsOTLP: OTEL_EXPORTER_OTLP_ENDPOINT alone turns tracing
// on; the spans reach an OTLP/HTTP receiver when stop flushes them, with
// the service name of OTEL_SERVICE_NAME, the attributes of
// OTEL_RESOURCE_ATTRIBUTES and the headers of OTEL_EXPORTER_OTLP_HEADERS,
// which the start line does not show.
func TestTracingExportsOTLP(t *testing.T) {
	rcv := &otlpReceiver{}
	hs := httptest.NewServer(rcv)
	defer hs.Close()
	for _, k := range allTracingVars {
		t.Setenv(k, "")
	}
	t.Setenv(envEndpoint, hs.URL)
	t.Setenv("OTEL_SERVICE_NAME", "orbit-test")
	t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=ci")
	t.Setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=key-0123456789")
	var logs bytes.Buffer
	log, err := newLoggerTo(&logs, "info", "json")
	if err != nil {
		t.Fatal(err)
	}
	tp, stop, err := startTracing(context.Background(), log)
	if err != nil {
		t.Fatal(err)
	}
	if tp == nil {
		t.Fatal("tracing off with OTEL_EXPORTER_OTLP_ENDPOINT set")
	}
	_, sp := tp.Tracer("test").Start(context.Background(), "exported")
	sp.End()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := stop(ctx); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(logs.String(), "key-0123456789") {
		t.Fatal("the start line shows a header value")
	}
	if !strings.Contains(logs.String(), `"msg":"tracing on"`) || !strings.Contains(logs.String(), hs.URL) {
		t.Fatalf("no start line naming the endpoint: %s", logs.String())
	}
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	if len(rcv.reqs) == 0 {
		t.Fatal("no export reached the receiver")
	}
	if got := rcv.headers[0].Get("x-api-key"); got != "key-0123456789" {
		t.Errorf("header x-api-key %q, want the one of OTEL_EXPORTER_OTLP_HEADERS", got)
	}
	rs := rcv.reqs[0].ResourceSpans[0]
	res := map[string]string{}
	for _, kv := range rs.Resource.Attributes {
		res[kv.Key] = kv.Value.GetStringValue()
	}
	if res["service.name"] != "orbit-test" || res["deployment.environment"] != "ci" || res["service.version"] == "" {
		t.Errorf("resource %v, want service.name orbit-test, deployment.environment ci and a service.version", res)
	}
	if name := rs.ScopeSpans[0].Spans[0].Name; name != "exported" {
		t.Errorf("span %q, want exported", name)
	}
}

// TestServiceNameDefault: without OTEL_SERVICE_NAME the resource names
// orbit-server.
func TestServiceNameDefault(t *testing.T) {
	rcv := &otlpReceiver{}
	hs := httptest.NewServer(rcv)
	defer hs.Close()
	for _, k := range allTracingVars {
		t.Setenv(k, "")
	}
	t.Setenv(envTracesExporter, "otlp")
	t.Setenv(envTracesEndpoint, hs.URL+"/v1/traces")
	tp, stop, err := startTracing(context.Background(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	_, sp := tp.Tracer("test").Start(context.Background(), "s")
	sp.End()
	if err := stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	if len(rcv.reqs) == 0 {
		t.Fatal("no export reached the receiver")
	}
	name := ""
	for _, kv := range rcv.reqs[0].ResourceSpans[0].Resource.Attributes {
		if kv.Key == "service.name" {
			name = kv.Value.GetStringValue()
		}
	}
	if name != "orbit-server" {
		t.Fatalf("service.name %q, want orbit-server", name)
	}
}

// TestJSONLogDurations: serve's JSON log writes durations as "1.5s".
func TestJSONLogDurations(t *testing.T) {
	var b bytes.Buffer
	log, err := newLoggerTo(&b, "info", "json")
	if err != nil {
		t.Fatal(err)
	}
	log.Info("m", "timeout", 1500*time.Millisecond)
	var m map[string]any
	if err := json.Unmarshal(b.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	if m["timeout"] != "1.5s" {
		t.Fatalf("logged %s, want timeout \"1.5s\"", b.Bytes())
	}
	b.Reset()
	log, err = newLoggerTo(&b, "info", "text")
	if err != nil {
		t.Fatal(err)
	}
	log.Info("m", "timeout", 1500*time.Millisecond)
	if !strings.Contains(b.String(), "timeout=1.5s") {
		t.Fatalf("text log %q, want timeout=1.5s", b.String())
	}
}
