package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/orbit-go/orbit"
	orbitv1 "github.com/orbit-go/orbit/api/orbit/v1"
	"github.com/orbit-go/orbit/client"
	"github.com/orbit-go/orbit/persistence/config"
	"github.com/orbit-go/orbit/server"
	"github.com/orbit-go/orbit/server/auth"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// accessLines are the access-log lines of a JSON log.
func accessLines(t *testing.T, log []byte) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for _, l := range bytes.Split(bytes.TrimSpace(log), []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(l, &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		if m["msg"] == "access" {
			lines = append(lines, m)
		}
	}
	return lines
}

// TestAccessLog: with the access log on, every call is one JSON line with
// its full method, the caller's identity (a token's name, never the token),
// the code, the duration as a duration string and, for a traced call, its
// trace id; calls refused by auth are logged with their code.
func TestAccessLog(t *testing.T) {
	ctx, cancel := context.WithTimeout(bg, 30*time.Second)
	defer cancel()
	logs := &lockedBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{ReplaceAttr: server.DurationAsString}))
	stp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(tracetest.NewInMemoryExporter()))
	clientSpans := tracetest.NewInMemoryExporter()
	ctp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(clientSpans))
	t.Cleanup(func() { _ = stp.Shutdown(bg); _ = ctp.Shutdown(bg) })
	a := &config.AuthConfig{Mode: "on",
		Tokens: []string{auth.DigestLine("ci", ciToken), auth.DigestLine("scraper", scraperToken)},
		Grants: []string{"token:ci=admin@*", "token:scraper=reader@*"}}
	s := tracedServer(t, memoryConfig(t), stp, func(b *server.Builder) *server.Builder {
		return b.WithAuth(a).WithAccessLog(true).WithLogger(log)
	})
	dial := func(token string, opts ...client.Option) *client.Client {
		t.Helper()
		c, err := client.Dial(ctx, s.Addr(), append(opts, client.WithInsecureBearerToken(token))...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	ref := orbit.AddressableReference{Type: "Greeter", Key: orbit.StringKey("x")}
	const unknownToken = "unknown-token-0123456789abcdefghijklmnopq"

	ci := dial(ciToken, client.WithTracerProvider(ctp))
	if _, err := ci.Lookup(ctx, ref); err == nil {
		t.Fatal("lookup of an unplaced addressable succeeded")
	}
	if _, _, err := dial(scraperToken).LocateOrPlace(ctx, ref); err == nil {
		t.Fatal("a reader placed an addressable")
	}
	if _, err := dial(unknownToken).Lookup(ctx, ref); err == nil {
		t.Fatal("an unknown token was accepted")
	}

	var traceID string
	for _, sp := range clientSpans.GetSpans() {
		if sp.Name == "orbit.v1.AddressableService/Lookup" {
			traceID = sp.SpanContext.TraceID().String()
		}
	}
	if traceID == "" {
		t.Fatal("no client span of the traced lookup")
	}
	raw := []byte(logs.String())
	for _, tok := range []string{ciToken, scraperToken, unknownToken} {
		if bytes.Contains(raw, []byte(tok)) {
			t.Fatalf("the log contains a bearer token")
		}
	}
	want := []struct{ method, identity, code, trace string }{
		{"/orbit.v1.AddressableService/Lookup", "token:ci", "NotFound", traceID},
		{"/orbit.v1.AddressableService/LocateOrPlace", "token:scraper", "PermissionDenied", ""},
		{"/orbit.v1.AddressableService/Lookup", "anonymous", "Unauthenticated", ""},
	}
	var got []map[string]any
	for _, l := range accessLines(t, raw) {
		if !strings.HasPrefix(l["method"].(string), "/grpc.health") {
			got = append(got, l)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%d access lines, want %d:\n%s", len(got), len(want), raw)
	}
	for i, w := range want {
		l := got[i]
		if l["method"] != w.method || l["identity"] != w.identity || l["code"] != w.code {
			t.Errorf("line %d: method %v identity %v code %v, want %s %s %s", i, l["method"], l["identity"], l["code"], w.method, w.identity, w.code)
		}
		ds, ok := l["duration"].(string)
		if d, err := time.ParseDuration(ds); !ok || err != nil || d <= 0 {
			t.Errorf("line %d: duration %#v, want a positive duration string", i, l["duration"])
		}
		if p, _ := l["peer"].(string); !strings.HasPrefix(p, "127.0.0.1:") {
			t.Errorf("line %d: peer %q, want the loopback caller", i, p)
		}
		if w.trace != "" && l["trace_id"] != w.trace {
			t.Errorf("line %d: trace_id %v, want the client's trace %s", i, l["trace_id"], w.trace)
		}
		if w.trace != "" && len(l["span_id"].(string)) != 16 {
			t.Errorf("line %d: span_id %v", i, l["span_id"])
		}
	}
}

// TestAccessLogOff: without WithAccessLog no call is logged.
func TestAccessLogOff(t *testing.T) {
	ctx, cancel := context.WithTimeout(bg, 30*time.Second)
	defer cancel()
	logs := &lockedBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	s := tracedServer(t, memoryConfig(t), nil, func(b *server.Builder) *server.Builder { return b.WithLogger(log) })
	c, err := client.Dial(ctx, s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Lookup(ctx, orbit.AddressableReference{Type: "Greeter", Key: orbit.StringKey("x")}); err == nil {
		t.Fatal("lookup of an unplaced addressable succeeded")
	}
	if l := accessLines(t, []byte(logs.String())); len(l) != 0 {
		t.Fatalf("%d access lines with the access log off: %v", len(l), l)
	}
}

// TestDurationAsString: a time.Duration comes out of the JSON handler as
// its String form.
func TestDurationAsString(t *testing.T) {
	var b bytes.Buffer
	slog.New(slog.NewJSONHandler(&b, &slog.HandlerOptions{ReplaceAttr: server.DurationAsString})).
		Info("m", "d", 1500*time.Millisecond, slog.Group("g", slog.Duration("e", 250*time.Microsecond)), "n", 3)
	var m map[string]any
	if err := json.Unmarshal(b.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	if m["d"] != "1.5s" || m["g"].(map[string]any)["e"] != "250µs" || m["n"] != 3.0 {
		t.Fatalf("logged %s, want d \"1.5s\", g.e \"250µs\", n 3", b.Bytes())
	}
}

// TestAccessLogStreamsAndLimits: a stream is one line when it ends (the
// code its handler returned: OK for a watch its client left), and a call the rate limit refuses is logged
// as ResourceExhausted; without auth the identity is anonymous.
func TestAccessLogStreamsAndLimits(t *testing.T) {
	ctx, cancel := context.WithTimeout(bg, 30*time.Second)
	defer cancel()
	logs := &lockedBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{ReplaceAttr: server.DurationAsString}))
	l := server.DefaultLimits()
	l.RatePerSecond, l.RateBurst = 0.001, 2 // two calls, then none for 1000 s
	s := tracedServer(t, memoryConfig(t), nil, func(b *server.Builder) *server.Builder {
		return b.WithAccessLog(true).WithLogger(log).WithLimits(l)
	})
	conn, err := grpc.NewClient(s.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	sctx, stop := context.WithCancel(ctx)
	stream, err := orbitv1.NewNodeServiceClient(conn).WatchNodes(sctx, &orbitv1.WatchNodesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	addrs := orbitv1.NewAddressableServiceClient(conn)
	if _, err := addrs.Lookup(ctx, &orbitv1.LookupRequest{Reference: sref("", "Greeter", "a")}); status.Code(err) != codes.NotFound {
		t.Fatalf("lookup: %v, want NotFound", err)
	}
	if _, err := addrs.Lookup(ctx, &orbitv1.LookupRequest{Reference: sref("", "Greeter", "a")}); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("third call: %v, want ResourceExhausted", err)
	}
	stop()
	_, _ = stream.Recv()

	var lines []map[string]any
	for ctx.Err() == nil { // the stream's line comes when the server's handler returns
		lines = nil
		for _, l := range accessLines(t, []byte(logs.String())) {
			if !strings.HasPrefix(l["method"].(string), "/grpc.health") {
				lines = append(lines, l)
			}
		}
		if len(lines) >= 3 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	got := map[string]bool{}
	for _, l := range lines {
		if l["identity"] != "anonymous" {
			t.Errorf("identity %v with auth off, want anonymous", l["identity"])
		}
		got[l["method"].(string)+" "+l["code"].(string)] = true
	}
	for _, w := range []string{"/orbit.v1.NodeService/WatchNodes OK", "/orbit.v1.AddressableService/Lookup NotFound",
		"/orbit.v1.AddressableService/Lookup ResourceExhausted"} {
		if !got[w] {
			t.Errorf("no access line %q among %v", w, got)
		}
	}
}
