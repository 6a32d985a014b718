package server

import (
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"testing"
	"time"

	orbitv1 "github.com/orbit-go/orbit/api/orbit/v1"
	"github.com/orbit-go/orbit/clock"
	"github.com/orbit-go/orbit/persistence"
	"github.com/orbit-go/orbit/persistence/config"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// gaugeServer is one started server on a memory provider with a manual
// clock, with background loops slowed to an hour, so that only the test
// refreshes the cluster gauges.
type gaugeServer struct {
	s     *Server
	reg   *persistence.Registry
	conn  *grpc.ClientConn
	clock *clock.Manual
}

func newGaugeServer(t *testing.T) *gaugeServer {
	t.Helper()
	cfg, err := config.NewBuilder().WithMemory("memory", config.DefaultMemoryConfig(), true).Build()
	if err != nil {
		t.Fatal(err)
	}
	g := &gaugeServer{clock: clock.NewManual(time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	g.reg, err = persistence.OpenRegistry(bg, cfg, persistence.WithClock(g.clock), persistence.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.reg.Close(bg) })
	timings := DefaultTimings()
	timings.SweepInterval = time.Hour
	timings.HealthInterval = time.Hour
	g.s, err = NewBuilder().WithListenAddress("127.0.0.1:0").WithRegistry(g.reg).WithClock(g.clock).
		WithTimings(timings).WithLogger(quiet).Build(bg)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.s.Start(bg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.s.Stop(bg) })
	g.conn, err = grpc.NewClient(g.s.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.conn.Close() })
	return g
}

// manualCollector returns a collector of g's server whose refresh loop
// never starts: the test refreshes it by hand.
func manualCollector(t *testing.T, s *Server) (*clusterCollector, *prometheus.Registry) {
	t.Helper()
	c := newClusterCollector(s)
	c.start.Do(func() {})
	close(c.first)
	r := prometheus.NewRegistry()
	r.MustRegister(c)
	return c, r
}

// series returns the values of metric name in r, keyed by their labels
// ("k=v,k=v", sorted by name).
func series(t *testing.T, r prometheus.Gatherer, name string) map[string]float64 {
	t.Helper()
	mfs, err := r.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, l.GetName()+"="+l.GetValue())
			}
			sort.Strings(ls)
			out[strings.Join(ls, ",")] = value(m)
		}
	}
	return out
}

func value(m *dto.Metric) float64 {
	switch {
	case m.GetGauge() != nil:
		return m.GetGauge().GetValue()
	case m.GetCounter() != nil:
		return m.GetCounter().GetValue()
	}
	return 0
}

// nodesWant builds the expected orbit_cluster_nodes series: every status
// of every namespace given, 0 unless set.
func nodesWant(counts map[string]map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for ns, by := range counts {
		for _, st := range nodeStatuses {
			out["namespace="+ns+",status="+st.String()] = by[st.String()]
		}
	}
	return out
}

func sameSeries(t *testing.T, what string, got, want map[string]float64) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("%s:\n got  %v\n want %v", what, got, want)
	}
}

// The gauges follow real joins, leaves, placements, lease expiry and the
// sweep, per namespace, with every status initialised at 0.
func TestClusterGaugesFollowTheCluster(t *testing.T) {
	g := newGaugeServer(t)
	c, r := manualCollector(t, g.s)
	nodes := orbitv1.NewNodeServiceClient(g.conn)
	addrs := orbitv1.NewAddressableServiceClient(g.conn)

	c.refresh(bg)
	sameSeries(t, "nodes of an empty cluster", series(t, r, "orbit_cluster_nodes"), nodesWant(map[string]map[string]float64{"default": {}}))
	sameSeries(t, "leases of an empty cluster", series(t, r, "orbit_cluster_leases"), map[string]float64{"namespace=default": 0})

	var joined []*orbitv1.JoinResponse
	for _, jr := range []*orbitv1.JoinRequest{joinReq("default", "a"), joinReq("default", "b"), joinReq("blue", "c")} {
		resp, err := nodes.Join(bg, jr)
		if err != nil {
			t.Fatal(err)
		}
		joined = append(joined, resp)
	}
	for i := range 5 {
		if _, err := addrs.LocateOrPlace(bg, &orbitv1.LocateOrPlaceRequest{Reference: refIn("default", fmt.Sprint("u", i))}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 2 {
		if _, err := addrs.LocateOrPlace(bg, &orbitv1.LocateOrPlaceRequest{Reference: refIn("blue", fmt.Sprint("u", i))}); err != nil {
			t.Fatal(err)
		}
	}
	// Nothing changes until the next refresh: the scrape reads the snapshot.
	sameSeries(t, "nodes before a refresh", series(t, r, "orbit_cluster_nodes"), nodesWant(map[string]map[string]float64{"default": {}}))
	c.refresh(bg)
	sameSeries(t, "nodes after joins", series(t, r, "orbit_cluster_nodes"),
		nodesWant(map[string]map[string]float64{"default": {"active": 2}, "blue": {"active": 1}}))
	sameSeries(t, "leases after placements", series(t, r, "orbit_cluster_leases"),
		map[string]float64{"namespace=default": 5, "namespace=blue": 2})

	// A leave: the node is gone, its leases are released but their records
	// stay until the sweep (the help says so).
	if _, err := nodes.Leave(bg, &orbitv1.LeaveRequest{Id: joined[2].Id, ChallengeToken: joined[2].Lease.ChallengeToken}); err != nil {
		t.Fatal(err)
	}
	c.refresh(bg)
	sameSeries(t, "nodes after a leave", series(t, r, "orbit_cluster_nodes"), nodesWant(map[string]map[string]float64{"default": {"active": 2}}))
	sameSeries(t, "leases after a leave (blue has no node: not exported)", series(t, r, "orbit_cluster_leases"),
		map[string]float64{"namespace=default": 5})

	// Expiry: past the node lease TTL the nodes are no longer live; past
	// the epoch grace the sweep removes the lease records.
	g.clock.Advance(g.s.timings.NodeLeaseTTL + time.Second)
	c.refresh(bg)
	sameSeries(t, "nodes after their leases expired", series(t, r, "orbit_cluster_nodes"), nodesWant(map[string]map[string]float64{"default": {}}))
	sameSeries(t, "lease records before the sweep", series(t, r, "orbit_cluster_leases"), map[string]float64{"namespace=default": 5})
	g.clock.Advance(g.s.timings.AddressableLeaseTTL + persistence.DefaultEpochGrace + time.Second)
	g.s.sweep(bg)
	c.refresh(bg)
	sameSeries(t, "lease records after the sweep", series(t, r, "orbit_cluster_leases"), map[string]float64{"namespace=default": 0})
	if ts := series(t, r, "orbit_cluster_gauges_refresh_timestamp_seconds")[""]; ts != float64(g.clock.Now().UnixNano())/1e9 {
		t.Fatalf("refresh timestamp = %v, want the clock's %v", ts, g.clock.Now())
	}
}

func refIn(ns, key string) *orbitv1.AddressableReference {
	return &orbitv1.AddressableReference{Namespace: ns, Type: "Greeter", Key: &orbitv1.AddressableKey{Key: &orbitv1.AddressableKey_StringKey{StringKey: key}}}
}

// A scrape never calls the backend: the provider's operation counters do
// not move between scrapes, which read the background snapshot.
func TestClusterGaugesScrapeCostsNothing(t *testing.T) {
	g := newGaugeServer(t)
	if _, err := orbitv1.NewNodeServiceClient(g.conn).Join(bg, joinReq("default", "a")); err != nil {
		t.Fatal(err)
	}
	// The first scrape of the server's own registry starts the refresh
	// loop and waits for its first snapshot.
	if got := series(t, g.s.prom, "orbit_cluster_nodes")["namespace=default,status=active"]; got != 1 {
		t.Fatalf("first scrape: active nodes of default = %v, want 1", got)
	}
	p, err := g.reg.DefaultAddressableProvider()
	if err != nil {
		t.Fatal(err)
	}
	before := p.Metrics()
	for range 3 {
		if got := series(t, g.s.prom, "orbit_cluster_leases"); len(got) != 1 {
			t.Fatalf("scrape: leases series = %v, want the default namespace's", got)
		}
	}
	if after := p.Metrics(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("scrapes called the backend: operations before %+v, after %+v", before, after)
	}
}

// The label cardinality is bounded: at most max_namespaces namespaces
// besides the server's own are exported.
func TestClusterGaugesBoundNamespaces(t *testing.T) {
	g := newGaugeServer(t)
	g.s.limits.MaxNamespaces = 2
	c, r := manualCollector(t, g.s)
	for i := range 4 { // the directory may hold more than one server admits
		n := persistence.NodeInfo{ID: persistence.NodeID{Namespace: fmt.Sprint("ns", i), Key: "n"}, URL: "grpc://127.0.0.1:1",
			Status: persistence.NodeActive, Lease: persistence.NodeLease{ExpiresAt: g.clock.Now().Add(time.Minute), ChallengeToken: "t"}}
		if _, err := g.s.nodes.Join(bg, n); err != nil {
			t.Fatal(err)
		}
	}
	c.refresh(bg)
	sameSeries(t, "bounded namespaces", series(t, r, "orbit_cluster_nodes"),
		nodesWant(map[string]map[string]float64{"default": {}, "ns0": {"active": 1}, "ns1": {"active": 1}}))
}

// The cache counters move with hits and misses: the server's node view
// (a fresh view is a hit, a listing a miss) and the provider's label cache
// (a renewal by the same holder finds its label).
func TestCacheCounters(t *testing.T) {
	g := newGaugeServer(t)
	_, r := manualCollector(t, g.s)
	hits := func() map[string]float64 { return series(t, r, "orbit_persistence_cache_hits_total") }
	misses := func() map[string]float64 { return series(t, r, "orbit_persistence_cache_misses_total") }
	const view = "cache=node-view,provider=memory,type=Memory"
	const label = "cache=lease-label,provider=memory,type=Memory"
	if h, m := hits(), misses(); h[view] != 0 || m[view] != 0 || h[label] != 0 || m[label] != 0 {
		t.Fatalf("counters of a new server: hits %v, misses %v; want every cache at 0", h, m)
	}
	if _, ok := hits()[view]; !ok {
		t.Fatalf("node-view counter not initialised: %v", hits())
	}
	joined, err := orbitv1.NewNodeServiceClient(g.conn).Join(bg, joinReq("default", "a"))
	if err != nil {
		t.Fatal(err)
	}
	addrs := orbitv1.NewAddressableServiceClient(g.conn)
	first, err := addrs.LocateOrPlace(bg, &orbitv1.LocateOrPlaceRequest{Reference: refIn("default", "x")})
	if err != nil {
		t.Fatal(err)
	}
	h1, m1 := hits(), misses()
	if m1[view] < 1 || m1[label] < 1 {
		t.Fatalf("after the first placement: misses %v, want node-view and lease-label misses", m1)
	}
	// Again within the node cache TTL: the view is fresh.
	if _, err := addrs.LocateOrPlace(bg, &orbitv1.LocateOrPlaceRequest{Reference: refIn("default", "y")}); err != nil {
		t.Fatal(err)
	}
	if h2 := hits(); h2[view] <= h1[view] {
		t.Fatalf("a second placement within the node cache TTL: node-view hits %v -> %v, want more", h1[view], h2[view])
	}
	// A renewal writes the record with the same holder: a label hit.
	if _, err := addrs.RenewLease(bg, &orbitv1.RenewLeaseRequest{Reference: refIn("default", "x"), Node: first.Lease.Node, Epoch: first.Lease.Epoch,
		ChallengeToken: joined.Lease.ChallengeToken}); err != nil {
		t.Fatal(err)
	}
	if h3 := hits(); h3[label] <= h1[label] {
		t.Fatalf("a renewal: lease-label hits %v -> %v, want more", h1[label], h3[label])
	}
}

// The metrics pass promlint (names, units, help, counters ending _total).
func TestClusterGaugesLint(t *testing.T) {
	g := newGaugeServer(t)
	c, r := manualCollector(t, g.s)
	c.refresh(bg)
	problems, err := testutil.GatherAndLint(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}
