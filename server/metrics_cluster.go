package server

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/orbit-go/orbit"
	"github.com/orbit-go/orbit/persistence"
)

// MinClusterGaugeInterval is the shortest refresh interval of the cluster
// gauges: they refresh every Timings.SweepInterval, but not more often than
// this (a scrape every 15 s is the usual Prometheus setting).
const MinClusterGaugeInterval = 15 * time.Second

// firstRefreshWait bounds how long the first scrape waits for the first
// refresh of the cluster gauges (it starts them).
const firstRefreshWait = 5 * time.Second

// nodeStatuses are the status label values of orbit_cluster_nodes, each
// exported (0 when none) for every namespace exported.
var nodeStatuses = []orbit.NodeStatus{orbit.NodeStarting, orbit.NodeActive, orbit.NodeDraining, orbit.NodeStopped}

// clusterSnapshot is one refresh of the cluster gauges; immutable.
type clusterSnapshot struct {
	at    time.Time
	nodes map[string][]int // namespace -> live nodes per nodeStatuses index
	// leases holds the namespaces whose count succeeded; nil when the
	// backend cannot count (the gauge is then absent).
	leases map[string]int64
}

// clusterCollector exports the cluster gauges from a snapshot that its own
// goroutine refreshes in the background, and the cache counters of the
// providers and of the server's node cache, read from memory. Collect never
// calls the backend: a scrape costs the backend nothing, however many
// scrapers there are.
//
// The refresh goroutine starts with the first Collect (a server that is
// never scraped never lists anything) and ends when the server stops.
type clusterCollector struct {
	s        *Server
	interval time.Duration

	nodes, leases, refreshed, hits, misses *prometheus.Desc

	start     sync.Once
	first     chan struct{} // closed after the first refresh (or at stop)
	snap      atomic.Pointer[clusterSnapshot]
	noCount   atomic.Bool // the backend cannot count leases: stop asking
	lastError atomic.Pointer[string]
}

func newClusterCollector(s *Server) *clusterCollector {
	return &clusterCollector{
		s:        s,
		interval: max(s.timings.SweepInterval, MinClusterGaugeInterval),
		first:    make(chan struct{}),
		nodes: prometheus.NewDesc("orbit_cluster_nodes",
			"Live cluster nodes (unexpired node leases) per namespace and status, as listed from the cluster directory by the last background refresh.",
			[]string{"namespace", "status"}, nil),
		leases: prometheus.NewDesc("orbit_cluster_leases",
			"Addressable lease records per namespace, counted by the backend at the last background refresh; includes leases expired or released but not yet removed by the cleanup sweep (kept for the epoch grace). Absent when the backend has no cheap count.",
			[]string{"namespace"}, nil),
		refreshed: prometheus.NewDesc("orbit_cluster_gauges_refresh_timestamp_seconds",
			"Unix time of the last successful background refresh of orbit_cluster_nodes and orbit_cluster_leases.",
			nil, nil),
		hits: prometheus.NewDesc("orbit_persistence_cache_hits_total",
			"Lookups answered by a cache, per provider and cache (driver: the backend driver's cache; lease-version, node-version: the records remembered for writes without a read; lease-label: the index labels of holders; node-view: the server's view of the live nodes).",
			[]string{"provider", "type", "cache"}, nil),
		misses: prometheus.NewDesc("orbit_persistence_cache_misses_total",
			"Lookups a cache could not answer, per provider and cache (see orbit_persistence_cache_hits_total).",
			[]string{"provider", "type", "cache"}, nil),
	}
}

// registerClusterGauges registers the gauges of the cluster's contents
// (nodes per namespace and status, leases per namespace) and the cache
// counters on s.prom.
func (s *Server) registerClusterGauges() error {
	if err := s.prom.Register(newClusterCollector(s)); err != nil {
		return fmt.Errorf("register the cluster gauges: %w", err)
	}
	return nil
}

func (c *clusterCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.nodes
	ch <- c.leases
	ch <- c.refreshed
	ch <- c.hits
	ch <- c.misses
}

// Collect exports the last snapshot. The first call starts the refresh
// goroutine and waits (at most firstRefreshWait) for its first snapshot;
// concurrent first calls wait with it (sync.Once).
func (c *clusterCollector) Collect(ch chan<- prometheus.Metric) {
	c.start.Do(func() {
		go c.loop()
		t := time.NewTimer(firstRefreshWait)
		defer t.Stop()
		select {
		case <-c.first:
		case <-t.C:
		}
	})
	if snap := c.snap.Load(); snap != nil {
		c.collectSnapshot(ch, snap)
	}
	c.collectCaches(ch)
}

func (c *clusterCollector) collectSnapshot(ch chan<- prometheus.Metric, snap *clusterSnapshot) {
	for ns, counts := range snap.nodes {
		for i, st := range nodeStatuses {
			ch <- prometheus.MustNewConstMetric(c.nodes, prometheus.GaugeValue, float64(counts[i]), ns, st.String())
		}
	}
	for ns, n := range snap.leases {
		ch <- prometheus.MustNewConstMetric(c.leases, prometheus.GaugeValue, float64(n), ns)
	}
	ch <- prometheus.MustNewConstMetric(c.refreshed, prometheus.GaugeValue, float64(snap.at.UnixNano())/1e9)
}

// collectCaches exports the cache counters of every provider of the
// registry and of the server's node cache (under the cluster provider).
func (c *clusterCollector) collectCaches(ch chan<- prometheus.Metric) {
	s := c.s
	if !s.backend.open.Load() {
		return
	}
	emit := func(provider, typ, cache string, hits, misses uint64) {
		ch <- prometheus.MustNewConstMetric(c.hits, prometheus.CounterValue, float64(hits), provider, typ, cache)
		ch <- prometheus.MustNewConstMetric(c.misses, prometheus.CounterValue, float64(misses), provider, typ, cache)
	}
	for _, name := range s.registry.Names() {
		p, err := s.registry.Provider(name)
		if err != nil {
			continue // removed meanwhile
		}
		for _, st := range persistence.CacheStatsOf(p) {
			emit(name, p.Type(), st.Cache, st.Hits, st.Misses)
		}
	}
	if cp, err := s.registry.DefaultClusterProvider(); err == nil && s.cache != nil {
		emit(cp.Name(), cp.Type(), "node-view", s.cache.hits.Load(), s.cache.misses.Load())
	}
}

// loop refreshes the snapshot every interval until the server stops.
func (c *clusterCollector) loop() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-c.s.stopping:
			cancel()
		case <-ctx.Done():
		}
	}()
	once := sync.OnceFunc(func() { close(c.first) })
	defer once()
	t := time.NewTicker(c.interval)
	defer t.Stop()
	for {
		select {
		case <-c.s.stopping:
			return
		default:
		}
		c.refresh(ctx)
		once()
		select {
		case <-c.s.stopping:
			return
		case <-t.C:
		}
	}
}

// refresh lists the live nodes of every namespace and counts the leases of
// each namespace seen, and stores the result as the new snapshot. On a
// failed node listing the previous snapshot stays (its timestamp says how
// old it is); a namespace whose lease count fails has no lease gauge in
// this snapshot.
func (c *clusterCollector) refresh(ctx context.Context) {
	s := c.s
	if !s.backend.open.Load() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, c.interval)
	defer cancel()
	list, err := s.nodes.ListAll(ctx, "")
	if err != nil {
		c.noteError("list the cluster nodes", err)
		return
	}
	nodes := map[string][]int{s.namespace: make([]int, len(nodeStatuses))}
	for _, n := range list {
		counts, ok := nodes[n.ID.Namespace]
		if !ok {
			counts = make([]int, len(nodeStatuses))
			nodes[n.ID.Namespace] = counts
		}
		if i := slices.Index(nodeStatuses, n.Status); i >= 0 {
			counts[i]++
		}
	}
	c.bound(nodes)
	snap := &clusterSnapshot{at: s.clock.Now(), nodes: nodes}
	if !c.noCount.Load() {
		snap.leases = make(map[string]int64, len(nodes))
		for ns := range nodes {
			n, err := persistence.CountLeases(ctx, s.addrs, ns)
			if errors.Is(err, persistence.ErrUnsupported) {
				c.noCount.Store(true)
				snap.leases = nil
				s.log.Info("the addressable backend has no cheap count: orbit_cluster_leases is not exported", "error", err)
				break
			}
			if err != nil {
				c.noteError("count the leases", err)
				continue
			}
			snap.leases[ns] = n
		}
	}
	c.snap.Store(snap)
}

// bound keeps at most MaxNamespaces+1 namespaces (the server's own and
// the first others by name), so that the label cardinality stays bounded
// even if the directory holds more namespaces than this server admits
// (other servers of the cluster admit joins on their own view).
func (c *clusterCollector) bound(nodes map[string][]int) {
	limit := c.s.limits.MaxNamespaces + 1
	if len(nodes) <= limit {
		return
	}
	names := make([]string, 0, len(nodes))
	for ns := range nodes {
		if ns != c.s.namespace {
			names = append(names, ns)
		}
	}
	slices.Sort(names)
	for _, ns := range names[limit-1:] {
		delete(nodes, ns)
	}
	c.s.log.Warn("cluster gauges: more namespaces with nodes than server.limits.max_namespaces; the others are not exported",
		"exported", limit, "dropped", len(names)-(limit-1))
}

// noteError logs a failed refresh once per distinct message.
func (c *clusterCollector) noteError(what string, err error) {
	select {
	case <-c.s.stopping:
		return // the providers close under a refresh in flight: expected
	default:
	}
	msg := what + ": " + err.Error()
	if prev := c.lastError.Swap(&msg); prev != nil && *prev == msg {
		return
	}
	c.s.log.Warn("cluster gauges: refresh failed", "step", what, "error", err)
}
