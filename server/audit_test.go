package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	orbitv1 "github.com/orbit-go/orbit/api/orbit/v1"
	"github.com/orbit-go/orbit/clock"
	"github.com/orbit-go/orbit/persistence"
	"github.com/orbit-go/orbit/persistence/config"
	"github.com/orbit-go/orbit/server"
	"github.com/orbit-go/orbit/server/audit"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
)

// lockedBuffer is a bytes.Buffer safe for the server's goroutines (audit sinks, captured logs).
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// audited is one server on loopback with the memory provider, a manual
// clock and an audit log in a buffer.
type audited struct {
	clock  *clock.Manual
	log    *audit.Log
	sink   *lockedBuffer
	prom   *prometheus.Registry
	conn   *grpc.ClientConn
	local  string // the client's address, as the server sees its peer
	nodes  orbitv1.NodeServiceClient
	addrs  orbitv1.AddressableServiceClient
	server *server.Server
}

func newAudited(t *testing.T) *audited {
	t.Helper()
	cfg, err := config.NewBuilder().WithMemory("memory", config.DefaultMemoryConfig(), true).Build()
	if err != nil {
		t.Fatal(err)
	}
	a := &audited{clock: clock.NewManual(time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)), sink: &lockedBuffer{}, prom: prometheus.NewRegistry()}
	reg, err := persistence.OpenRegistry(bg, cfg, persistence.WithClock(a.clock))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Close(bg) })
	a.log = audit.New(a.sink, audit.WithClock(a.clock))
	timings := server.DefaultTimings()
	timings.NodeCacheTTL = 200 * time.Millisecond
	a.server, err = server.NewBuilder().WithListenAddress("127.0.0.1:0").WithRegistry(reg).WithClock(a.clock).
		WithTimings(timings).WithLogger(quiet).WithPrometheusRegistry(a.prom).WithAudit(a.log).Build(bg)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.server.Start(bg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.server.Stop(bg); _ = a.log.Close() })
	var mu sync.Mutex
	a.conn, err = grpc.NewClient(a.server.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
			if err == nil {
				mu.Lock()
				a.local = c.LocalAddr().String()
				mu.Unlock()
			}
			return c, err
		}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.conn.Close() })
	a.nodes, a.addrs = orbitv1.NewNodeServiceClient(a.conn), orbitv1.NewAddressableServiceClient(a.conn)
	return a
}

// events flushes the log and parses every line.
func (a *audited) events(t *testing.T) []map[string]any {
	t.Helper()
	if err := a.log.Flush(bg); err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSuffix(a.sink.String(), "\n"), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		d := json.NewDecoder(strings.NewReader(line))
		d.UseNumber() // epochs exactly
		if err := d.Decode(&m); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// A scripted session — two joins, a placement, a takeover after the first
// node's lease lapsed, a wrong-token and a stale-epoch renewal, an
// abandon, a leave — leaves exactly these events in the audit log, with
// the caller's identity and peer address, and nothing for the calls that
// change nothing (a locate of a live lease, successful renewals, which
// are counted, a malformed request).
func TestAuditScriptedSession(t *testing.T) {
	a := newAudited(t)
	greeter := &orbitv1.NodeCapabilities{AddressableTypes: []string{"Greeter"}}
	t0 := a.clock.Now()

	nodeA, err := a.nodes.Join(bg, &orbitv1.JoinRequest{NodeKey: "a", Url: "grpc://127.0.0.1:1", Capabilities: greeter})
	if err != nil {
		t.Fatal(err)
	}
	alice := sref("", "Greeter", "alice")
	placed, err := a.addrs.LocateOrPlace(bg, &orbitv1.LocateOrPlaceRequest{Reference: alice})
	if err != nil || !placed.Placed || placed.Lease.Node.Key != "a" {
		t.Fatalf("place: %+v, %v", placed, err)
	}
	if _, err := a.addrs.LocateOrPlace(bg, &orbitv1.LocateOrPlaceRequest{Reference: alice}); err != nil {
		t.Fatal(err) // found alive: no event
	}
	nodeB, err := a.nodes.Join(bg, &orbitv1.JoinRequest{NodeKey: "b", Url: "grpc://127.0.0.1:2", Capabilities: greeter})
	if err != nil {
		t.Fatal(err)
	}
	// b renews, a does not: after 4 s a's 3 s lease has lapsed.
	a.clock.Advance(2 * time.Second)
	if _, err := a.nodes.RenewLease(bg, &orbitv1.RenewNodeLeaseRequest{Id: nodeB.Id, ChallengeToken: nodeB.Lease.ChallengeToken}); err != nil {
		t.Fatal(err)
	}
	a.clock.Advance(2 * time.Second)
	t1 := a.clock.Now()
	taken, err := a.addrs.LocateOrPlace(bg, &orbitv1.LocateOrPlaceRequest{Reference: alice})
	if err != nil || !taken.Placed || taken.Lease.Node.Key != "b" || taken.Lease.Epoch <= placed.Lease.Epoch {
		t.Fatalf("takeover: %+v, %v", taken, err)
	}
	lease := taken.Lease
	_, err = a.addrs.RenewLease(bg, &orbitv1.RenewLeaseRequest{Reference: lease.Reference, Node: nodeB.Id, Epoch: lease.Epoch, ChallengeToken: "stolen"})
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("wrong-token renewal: %v", err)
	}
	_, err = a.addrs.RenewLease(bg, &orbitv1.RenewLeaseRequest{Reference: lease.Reference, Node: nodeB.Id, Epoch: placed.Lease.Epoch, ChallengeToken: nodeB.Lease.ChallengeToken})
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("stale-epoch renewal: %v", err)
	}
	if _, err := a.addrs.RenewLease(bg, &orbitv1.RenewLeaseRequest{Reference: lease.Reference, Node: nodeB.Id, Epoch: lease.Epoch, ChallengeToken: nodeB.Lease.ChallengeToken}); err != nil {
		t.Fatal(err) // counted, not logged
	}
	if _, err := a.addrs.LocateOrPlace(bg, &orbitv1.LocateOrPlaceRequest{Reference: sref("", "", "x")}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("malformed locate: %v", err) // counted by the request metrics, not audited
	}
	if _, err := a.addrs.Abandon(bg, &orbitv1.AbandonRequest{Reference: lease.Reference, Node: nodeB.Id, Epoch: lease.Epoch, ChallengeToken: nodeB.Lease.ChallengeToken}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.nodes.Leave(bg, &orbitv1.LeaveRequest{Id: nodeB.Id, ChallengeToken: nodeB.Lease.ChallengeToken}); err != nil {
		t.Fatal(err)
	}

	ref := "default/Greeter/s:alice"
	e1, e2 := json.Number(fmt.Sprint(placed.Lease.Epoch)), json.Number(fmt.Sprint(lease.Epoch))
	incA, incB := fmt.Sprint(nodeA.Lease.Incarnation), fmt.Sprint(nodeB.Lease.Incarnation)
	ts := func(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
	want := []map[string]any{
		{"time": ts(t0), "event": "node.join", "outcome": "ok", "namespace": "default", "node": "a", "incarnation": incA},
		{"time": ts(t0), "event": "addressable.place", "outcome": "ok", "namespace": "default", "reference": ref, "node": "a",
			"incarnation": incA, "epoch_after": e1},
		{"time": ts(t0), "event": "node.join", "outcome": "ok", "namespace": "default", "node": "b", "incarnation": incB},
		{"time": ts(t1), "event": "addressable.takeover", "outcome": "ok", "namespace": "default", "reference": ref, "node": "b",
			"incarnation": incB, "previous_node": "a", "epoch_before": e1, "epoch_after": e2},
		{"time": ts(t1), "event": "addressable.renew", "outcome": "refused", "code": "FailedPrecondition", "namespace": "default",
			"reference": ref, "node": "b", "epoch_before": e2},
		{"time": ts(t1), "event": "addressable.renew", "outcome": "refused", "code": "FailedPrecondition", "namespace": "default",
			"reference": ref, "node": "b", "epoch_before": e1},
		{"time": ts(t1), "event": "addressable.abandon", "outcome": "ok", "namespace": "default", "reference": ref, "node": "b", "epoch_before": e2},
		{"time": ts(t1), "event": "node.leave", "outcome": "ok", "namespace": "default", "node": "b", "incarnation": incB},
	}
	got := a.events(t)
	t.Log(a.sink.String())
	if len(got) != len(want) {
		t.Fatalf("%d audit events, want %d:\n%s", len(got), len(want), a.sink.String())
	}
	for i, w := range want {
		g := got[i]
		reason, _ := g["reason"].(string)
		delete(g, "reason")
		w["log"], w["identity"], w["peer"] = "audit", "anonymous", a.local
		if !equalJSON(g, w) {
			t.Errorf("event %d:\n got %v\nwant %v", i, g, w)
		}
		if w["code"] != nil && reason == "" {
			t.Errorf("event %d: a refusal without a reason", i)
		}
		if strings.Contains(reason, nodeB.Lease.ChallengeToken) || strings.Contains(reason, "stolen") {
			t.Errorf("event %d: reason %q shows a token", i, reason)
		}
	}
	if r := a.sink.String(); strings.Contains(r, nodeA.Lease.ChallengeToken) || strings.Contains(r, nodeB.Lease.ChallengeToken) {
		t.Fatalf("the audit log shows a challenge token:\n%s", r)
	}

	renewals, err := testutil.GatherAndCount(a.prom, "orbit_server_lease_renewals_total")
	if err != nil || renewals != 2 {
		t.Fatalf("renewal series: %d, %v", renewals, err)
	}
	for kind, want := range map[string]float64{"node": 1, "addressable": 1} {
		if v := counterValue(t, a.prom, "orbit_server_lease_renewals_total", "kind", kind); v != want {
			t.Errorf("renewals{kind=%q} = %v, want %v", kind, v, want)
		}
	}
	if v := counterValue(t, a.prom, "orbit_server_audit_events_written_total", "", ""); v != float64(len(want)) {
		t.Errorf("audit events written = %v, want %d", v, len(want))
	}
}

// equalJSON compares decoded JSON objects.
func equalJSON(a, b map[string]any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

// counterValue reads one series of a metric from reg (label "" = the
// only series).
func counterValue(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			match := label == ""
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label && lp.GetValue() == value {
					match = true
				}
			}
			if match {
				if m.GetCounter() != nil {
					return m.GetCounter().GetValue()
				}
				return m.GetGauge().GetValue()
			}
		}
	}
	return -1
}

// A request refused as malformed before any handler runs (invalid UTF-8,
// caught by the decode check) is counted in grpc_server_handled_total
// with its code, like every other request.
func TestMalformedRequestCounted(t *testing.T) {
	a := newAudited(t)
	key := protowire.AppendTag(nil, 1, protowire.BytesType)
	key = protowire.AppendString(key, "\xff\xfe")
	ref := protowire.AppendTag(nil, 2, protowire.BytesType)
	ref = protowire.AppendString(ref, "Greeter")
	ref = protowire.AppendTag(ref, 3, protowire.BytesType)
	ref = protowire.AppendBytes(ref, key)
	req := protowire.AppendTag(nil, 1, protowire.BytesType)
	req = protowire.AppendBytes(req, ref)
	for range 3 {
		err := a.conn.Invoke(bg, "/orbit.v1.AddressableService/LocateOrPlace", rawRequest(req), new(orbitv1.LocateOrPlaceResponse), grpc.ForceCodec(rawCodec{}))
		if status.Code(err) != codes.InvalidArgument {
			t.Fatalf("malformed request: %v", err)
		}
	}
	if v := counterValueLabels(t, a.prom, "grpc_server_handled_total", map[string]string{"grpc_service": "orbit.v1.AddressableService", "grpc_method": "LocateOrPlace", "grpc_code": "InvalidArgument"}); v != 3 {
		t.Fatalf("grpc_server_handled_total{AddressableService,LocateOrPlace,InvalidArgument} = %v, want 3", v)
	}
	if ev := a.events(t); len(ev) != 0 {
		t.Fatalf("malformed requests audited: %v", ev)
	}
}

func counterValueLabels(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	byName := make(map[string]*dto.MetricFamily, len(mfs))
	for _, mf := range mfs {
		byName[mf.GetName()] = mf
	}
	m, ok := series(byName, name, labels)
	if !ok {
		return 0
	}
	return m.GetCounter().GetValue()
}
