package server_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	grpcmw "github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors"
	orbitv1 "github.com/orbit-go/orbit/api/orbit/v1"
	"github.com/orbit-go/orbit/server"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// obsServer starts a server on a memory provider (manual clock) with the
// admin listener on loopback, and a client connection to it.
func obsServer(t *testing.T, b *server.Builder) (*server.Server, *grpc.ClientConn) {
	t.Helper()
	s := startServer(t, b.WithListenAddress("127.0.0.1:0").WithAdminAddress("127.0.0.1:0").WithLogger(quiet))
	conn, err := grpc.NewClient(s.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return s, conn
}

// httpGet GETs url and returns the status code and body.
func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		t.Fatalf("GET %s: reading the body: %v", url, err)
	}
	return resp.StatusCode, string(b)
}

// scrape reads the server's /metrics over HTTP, as Prometheus does.
func scrape(t *testing.T, s *server.Server) (string, map[string]*dto.MetricFamily) {
	t.Helper()
	code, body := httpGet(t, "http://"+s.AdminAddr()+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d %.300s", code, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return body, mfs
}

// series returns the metric of family name whose labels include labels.
func series(mfs map[string]*dto.MetricFamily, name string, labels map[string]string) (*dto.Metric, bool) {
	mf := mfs[name]
	if mf == nil {
		return nil, false
	}
next:
	for _, m := range mf.GetMetric() {
		got := map[string]string{}
		for _, lp := range m.GetLabel() {
			got[lp.GetName()] = lp.GetValue()
		}
		for k, v := range labels {
			if got[k] != v {
				continue next
			}
		}
		return m, true
	}
	return nil, false
}

// value is the value of a counter or gauge series; the test fails if the
// series is absent.
func value(t *testing.T, mfs map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	t.Helper()
	m, ok := series(mfs, name, labels)
	if !ok {
		t.Fatalf("no series %s%v", name, labels)
	}
	switch {
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	case m.Histogram != nil:
		return float64(m.GetHistogram().GetSampleCount())
	}
	t.Fatalf("%s%v is neither counter, gauge nor histogram", name, labels)
	return 0
}

func handled(service, method, code string) map[string]string {
	return map[string]string{"grpc_service": service, "grpc_method": method, "grpc_code": code}
}

func method(service, m string) map[string]string {
	return map[string]string{"grpc_service": service, "grpc_method": m}
}

// Every method of the Orbit services has its series before its first
// call: started, handling time, and handled for every code.
func TestGRPCMetricsInitialised(t *testing.T) {
	s, _ := obsServer(t, server.NewBuilder())
	_, mfs := scrape(t, s)
	for _, sd := range []grpc.ServiceDesc{orbitv1.NodeService_ServiceDesc, orbitv1.AddressableService_ServiceDesc} {
		var names []string
		for _, m := range sd.Methods {
			names = append(names, m.MethodName)
		}
		for _, st := range sd.Streams {
			names = append(names, st.StreamName)
		}
		for _, name := range names {
			for _, c := range grpcmw.AllCodes {
				if v := value(t, mfs, "grpc_server_handled_total", handled(sd.ServiceName, name, c.String())); v != 0 {
					t.Errorf("%s/%s %s handled before any call: %v", sd.ServiceName, name, c, v)
				}
			}
			if v := value(t, mfs, "grpc_server_started_total", method(sd.ServiceName, name)); v != 0 {
				t.Errorf("%s/%s started before any call: %v", sd.ServiceName, name, v)
			}
			if v := value(t, mfs, "grpc_server_handling_seconds", method(sd.ServiceName, name)); v != 0 {
				t.Errorf("%s/%s handling-time samples before any call: %v", sd.ServiceName, name, v)
			}
		}
	}
	// The Orbit counters have their label combinations too.
	for _, kind := range []string{"new", "takeover"} {
		if v := value(t, mfs, "orbit_server_placements_total", map[string]string{"kind": kind}); v != 0 {
			t.Errorf("placements{kind=%s} = %v before any call", kind, v)
		}
	}
	for _, kind := range []string{"node", "addressable"} {
		if v := value(t, mfs, "orbit_server_lease_renewals_total", map[string]string{"kind": kind}); v != 0 {
			t.Errorf("lease_renewals{kind=%s} = %v before any call", kind, v)
		}
	}
	if _, ok := series(mfs, "orbit_server_swept_records_total", nil); !ok {
		t.Error("no orbit_server_swept_records_total")
	}
	// The old home-made series are gone.
	for _, old := range []string{"orbit_server_requests_total", "orbit_server_request_duration_seconds", "orbit_server_provider_health"} {
		if _, ok := mfs[old]; ok {
			t.Errorf("%s is still exported", old)
		}
	}
}

// NodeService/RenewLease and AddressableService/RenewLease are distinct
// series; an error is counted under its code; a streaming call counts its
// messages.
func TestGRPCMetricsPerServiceAndCode(t *testing.T) {
	s, conn := obsServer(t, server.NewBuilder())
	nodes, addrs := orbitv1.NewNodeServiceClient(conn), orbitv1.NewAddressableServiceClient(conn)
	j := join(t, nodes, "", "Greeter")
	const renewals = 3
	for range renewals {
		if _, err := nodes.RenewLease(bg, &orbitv1.RenewNodeLeaseRequest{Id: j.Id, ChallengeToken: j.Lease.ChallengeToken}); err != nil {
			t.Fatal(err)
		}
	}
	// An addressable renewal naming no reference is refused.
	_, err := addrs.RenewLease(bg, &orbitv1.RenewLeaseRequest{})
	code := status.Code(err)
	if code == codes.OK {
		t.Fatal("an empty addressable renewal succeeded")
	}
	placed, err := addrs.LocateOrPlace(bg, &orbitv1.LocateOrPlaceRequest{Reference: sref("", "Greeter", "alice")})
	if err != nil || !placed.Placed {
		t.Fatalf("placement: %v, %v", placed, err)
	}
	_, mfs := scrape(t, s)
	const ns, as = "orbit.v1.NodeService", "orbit.v1.AddressableService"
	checks := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"grpc_server_handled_total", handled(ns, "RenewLease", "OK"), renewals},
		{"grpc_server_handled_total", handled(as, "RenewLease", "OK"), 0},
		{"grpc_server_handled_total", handled(as, "RenewLease", code.String()), 1},
		{"grpc_server_handled_total", handled(ns, "RenewLease", code.String()), 0},
		{"grpc_server_started_total", method(ns, "RenewLease"), renewals},
		{"grpc_server_started_total", method(as, "RenewLease"), 1},
		{"grpc_server_handling_seconds", method(ns, "RenewLease"), renewals},
		{"grpc_server_handling_seconds", method(as, "RenewLease"), 1},
		{"grpc_server_handled_total", handled(ns, "Join", "OK"), 1},
		{"grpc_server_handled_total", handled(as, "LocateOrPlace", "OK"), 1},
		{"orbit_server_lease_renewals_total", map[string]string{"kind": "node"}, renewals},
		{"orbit_server_lease_renewals_total", map[string]string{"kind": "addressable"}, 0},
		{"orbit_server_placements_total", map[string]string{"kind": "new"}, 1},
		{"orbit_server_placements_total", map[string]string{"kind": "takeover"}, 0},
	}
	for _, c := range checks {
		if got := value(t, mfs, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	// The method label no longer merges the two RenewLease methods: no
	// series of handled_total lacks the service.
	for _, m := range mfs["grpc_server_handled_total"].GetMetric() {
		var svc string
		for _, lp := range m.GetLabel() {
			if lp.GetName() == "grpc_service" {
				svc = lp.GetValue()
			}
		}
		if svc == "" {
			t.Errorf("a handled_total series without grpc_service: %v", m.GetLabel())
		}
	}

	// A stream: WatchNodes sends the existing node, then the client ends it.
	ctx, cancel := context.WithCancel(bg)
	stream, err := nodes.WatchNodes(ctx, &orbitv1.WatchNodesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatal(err)
	}
	cancel()
	// (The handler ends a watch its client left with OK: the code is the
	// server's, the count the library's.)
	waitUntil(t, "the ended WatchNodes to be counted", func() bool {
		_, mfs = scrape(t, s)
		var n float64
		for _, c := range grpcmw.AllCodes {
			n += value(t, mfs, "grpc_server_handled_total", handled(ns, "WatchNodes", c.String()))
		}
		return n == 1
	})
	if v := value(t, mfs, "grpc_server_msg_sent_total", method(ns, "WatchNodes")); v < 1 {
		t.Errorf("WatchNodes messages sent = %v, want at least the one received", v)
	}
}

// orbit_build_info carries the builder's version and revision and the Go
// version; without WithBuildInfo the version is "devel".
func TestBuildInfo(t *testing.T) {
	s, _ := obsServer(t, server.NewBuilder().WithBuildInfo(server.BuildInfo{Version: "1.2.3", Revision: "0123abc"}))
	_, mfs := scrape(t, s)
	want := map[string]string{"version": "1.2.3", "revision": "0123abc", "goversion": runtime.Version()}
	if v := value(t, mfs, "orbit_build_info", want); v != 1 {
		t.Errorf("orbit_build_info%v = %v, want 1", want, v)
	}
	if n := len(mfs["orbit_build_info"].GetMetric()); n != 1 {
		t.Errorf("orbit_build_info has %d series, want 1", n)
	}

	d, _ := obsServer(t, server.NewBuilder())
	_, mfs = scrape(t, d)
	if v := value(t, mfs, "orbit_build_info", map[string]string{"version": "devel", "goversion": runtime.Version()}); v != 1 {
		t.Errorf("default orbit_build_info = %v, want 1", v)
	}
	m, _ := series(mfs, "orbit_build_info", nil)
	for _, lp := range m.GetLabel() {
		if lp.GetName() == "revision" && lp.GetValue() == "" {
			t.Error("orbit_build_info has an empty revision (want the VCS revision or \"unknown\")")
		}
	}
}

// waitUntil polls cond (every 10 ms; the test's deadline is the bound)
// until it holds, for what the server does asynchronously.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		if t.Context().Err() != nil {
			t.Fatalf("test ended waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// On a registry of the embedding program: an equal go-grpc-middleware
// ServerMetrics already there is shared (the server's calls count in it);
// a clashing metric of the same name leaves the server's unexported, is
// logged, and does not stop the server.
func TestMetricsOnCallersRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	shared := grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram())
	reg.MustRegister(shared)
	s, conn := obsServer(t, server.NewBuilder().WithPrometheusRegistry(reg))
	join(t, orbitv1.NewNodeServiceClient(conn), "", "Greeter")
	// Only the program's collector is on reg: the join counted there.
	_, mfs := scrape(t, s)
	if v := value(t, mfs, "grpc_server_handled_total", handled("orbit.v1.NodeService", "Join", "OK")); v != 1 {
		t.Errorf("the program's ServerMetrics counted %v joins, want 1", v)
	}

	clash := prometheus.NewRegistry()
	clash.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "grpc_server_handled_total", Help: "the program's own"}))
	logs := &lockedBuffer{}
	cs := startServer(t, server.NewBuilder().WithPrometheusRegistry(clash).WithListenAddress("127.0.0.1:0").WithAdminAddress("127.0.0.1:0").
		WithLogger(slog.New(slog.NewTextHandler(logs, nil))))
	if !strings.Contains(logs.String(), "a server metric is not exported") || !strings.Contains(logs.String(), "grpc_server_handled_total") {
		t.Errorf("the clash was not logged: %s", logs.String())
	}
	_, mfs = scrape(t, cs)
	if v := value(t, mfs, "orbit_server_provider_up", provider("memory")); v != 1 {
		t.Errorf("provider_up{memory} = %v on the clashing registry, want 1", v)
	}
}
