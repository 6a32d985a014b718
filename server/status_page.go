package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/orbit-go/orbit"
	"github.com/orbit-go/orbit/persistence"
	"github.com/orbit-go/orbit/server/audit"
	"github.com/orbit-go/orbit/server/auth"
	"github.com/orbit-go/orbit/server/statuspage"
	"golang.org/x/sync/errgroup"
)

// The status page's bounds (docs/status-page.md, Limits).
const (
	// statusMaxNamespaces: namespaces shown (the default one first).
	statusMaxNamespaces = 32
	// statusMaxNodes: nodes shown per namespace, in key order.
	statusMaxNodes = 200
	// statusLeaseCountLimit: leases counted per node; beyond, "≥ limit".
	statusLeaseCountLimit = 1000
	// statusLeaseCountTTL: how long a node's lease count is reused.
	statusLeaseCountTTL = 5 * time.Second
	// statusLeaseCountParallel: concurrent lease counts of one snapshot.
	statusLeaseCountParallel = 4
	// statusAuditEvents: recent audit events kept for the page.
	statusAuditEvents = 100
)

// mountStatusPage adds the status page's routes to the admin mux: the
// page at /, its assets under /static/ and its API under /api/v1/
// (server/statuspage). The admin mux is behind protectAdmin, so the page
// needs the reader role when auth is on.
func (s *Server) mountStatusPage(mux *http.ServeMux) {
	src := &statusSource{s: s, counts: map[orbit.NodeID]leaseCount{}}
	src.ring = s.statusAuditRing()
	h := statuspage.New(src, statuspage.Options{DefaultNamespace: s.namespace})
	for _, p := range statuspage.Paths() {
		mux.Handle(p, h)
	}
}

// statusAuditRing puts a ring of the recent audit events in front of the
// server's auditor, once, and returns it; nil when there is no audit log.
//
// It runs when the admin handler is built (Start). Build would be the
// race-free place (a composite provider may report a failover from its
// own goroutine while Start runs); see the report of issue 23.
func (s *Server) statusAuditRing() *auditRing {
	if r, ok := s.audit.(*auditRing); ok {
		return r
	}
	if s.audit == nil {
		return nil
	}
	r := newAuditRing(s.audit, statusAuditEvents, s.clock.Now)
	s.audit = r
	return r
}

// auditRing is an audit.Auditor that keeps the last events it records (a
// bounded ring) for the status page, and passes every event on to next.
type auditRing struct {
	next audit.Auditor
	clk  func() time.Time

	mu    sync.Mutex
	buf   []audit.Event // ring of cap(buf) events
	start int           // index of the oldest
	n     int           // events held
	subs  map[chan struct{}]struct{}
}

func newAuditRing(next audit.Auditor, size int, now func() time.Time) *auditRing {
	return &auditRing{next: next, clk: now, buf: make([]audit.Event, size), subs: map[chan struct{}]struct{}{}}
}

// Record implements audit.Auditor: next records e (it fills Time and
// Identity from its clock and ctx), the ring keeps a copy.
func (r *auditRing) Record(ctx context.Context, e audit.Event) {
	r.next.Record(ctx, e)
	if e.Time.IsZero() {
		e.Time = r.clk()
	}
	if e.Identity == "" {
		e.Identity = auth.FromContext(ctx).String()
	}
	e.Peer = "" // not shown on the page
	r.mu.Lock()
	r.buf[(r.start+r.n)%len(r.buf)] = e
	if r.n < len(r.buf) {
		r.n++
	} else {
		r.start = (r.start + 1) % len(r.buf)
	}
	for ch := range r.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	r.mu.Unlock()
}

// recent returns the events held, newest first.
func (r *auditRing) recent() []audit.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]audit.Event, r.n)
	for i := 0; i < r.n; i++ {
		out[i] = r.buf[(r.start+r.n-1-i)%len(r.buf)]
	}
	return out
}

func (r *auditRing) subscribe() (chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	r.mu.Lock()
	r.subs[ch] = struct{}{}
	r.mu.Unlock()
	return ch, func() {
		r.mu.Lock()
		delete(r.subs, ch)
		r.mu.Unlock()
	}
}

// leaseCount is a node's counted leases at a time.
type leaseCount struct {
	incarnation uint64
	n           int
	atLeast     bool
	at          time.Time
}

// statusSource is the status page's view of the server.
type statusSource struct {
	s    *Server
	ring *auditRing // nil: no audit log

	mu     sync.Mutex
	counts map[orbit.NodeID]leaseCount // the nodes of the last snapshot only
}

// compositeStatusOf returns the composite state of p, or nil when p is not
// a composite provider; set by status_page_composite.go unless the
// composite provider is left out of the build.
var compositeStatusOf func(p persistence.Provider) *statuspage.Composite

// Status implements statuspage.Source.
func (c *statusSource) Status(ctx context.Context) (statuspage.Status, error) {
	s := c.s
	s.mu.Lock()
	ready := s.ready
	s.mu.Unlock()
	st := statuspage.Status{
		GeneratedAt: s.clock.Now().UTC(),
		Server: statuspage.Server{DefaultNamespace: s.namespace, Version: s.build.Version, Revision: s.build.Revision,
			Ready: ready, Watching: s.members.watching(),
			NodeLeaseTTL: s.timings.NodeLeaseTTL.Seconds(), AddressableLeaseTTL: s.timings.AddressableLeaseTTL.Seconds()},
		Namespaces: []statuspage.Namespace{},
		Providers:  c.providers(),
	}
	if c.ring != nil {
		st.Audit = &statuspage.Audit{Events: eventsOut(c.ring.recent()), Capacity: statusAuditEvents}
	}
	if reason := s.backendPending(); reason != "" {
		st.Errors = append(st.Errors, "storage backend not available yet (retrying): "+reason)
		return st, nil
	}
	lctx, cancel := s.backendContext(ctx)
	nodes, err := s.nodes.ListAll(lctx, "")
	cancel()
	if err != nil {
		st.Errors = append(st.Errors, "listing the nodes: "+err.Error())
		nodes = nil
	}
	st.Namespaces, st.NamespacesTruncated = groupNodes(nodes, s.namespace, s.clock.Now())
	c.countLeases(ctx, st.Namespaces)
	return st, nil
}

// groupNodes sorts the live nodes into namespaces (the default first, then
// by name), each in key order, within the bounds.
func groupNodes(nodes []orbit.NodeInfo, defaultNS string, now time.Time) ([]statuspage.Namespace, bool) {
	by := map[string][]orbit.NodeInfo{defaultNS: nil}
	for _, n := range nodes {
		if n.Live(now) {
			by[n.ID.Namespace] = append(by[n.ID.Namespace], n)
		}
	}
	names := make([]string, 0, len(by))
	for ns := range by {
		if ns != defaultNS {
			names = append(names, ns)
		}
	}
	slices.Sort(names)
	names = append([]string{defaultNS}, names...)
	truncated := len(names) > statusMaxNamespaces
	if truncated {
		names = names[:statusMaxNamespaces]
	}
	out := make([]statuspage.Namespace, 0, len(names))
	for _, ns := range names {
		list := by[ns]
		slices.SortFunc(list, func(a, b orbit.NodeInfo) int { return strings.Compare(a.ID.Key, b.ID.Key) })
		v := statuspage.Namespace{Name: ns, NodesTotal: len(list), Nodes: []statuspage.Node{}}
		if len(list) > statusMaxNodes {
			list, v.Truncated = list[:statusMaxNodes], true
		}
		for _, n := range list {
			v.Nodes = append(v.Nodes, statuspage.Node{Key: n.ID.Key, URL: n.URL, Status: n.Status.String(),
				Incarnation: n.Lease.Incarnation, ExpiresAt: n.Lease.ExpiresAt.UTC(),
				Types: n.Capabilities.AddressableTypes, Leases: -1})
		}
		out = append(out, v)
	}
	return out, truncated
}

// countLeases fills the lease counts of the nodes shown: each node's
// unexpired leases counted by a listing of at most statusLeaseCountLimit,
// reused for statusLeaseCountTTL (per node incarnation). A failed count
// stays -1.
func (c *statusSource) countLeases(ctx context.Context, namespaces []statuspage.Namespace) {
	now := time.Now()
	c.mu.Lock()
	old := c.counts
	c.mu.Unlock()
	fresh := make(map[orbit.NodeID]leaseCount)
	var fmu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(statusLeaseCountParallel)
	for i := range namespaces {
		for j := range namespaces[i].Nodes {
			n := &namespaces[i].Nodes[j]
			id := orbit.NodeID{Namespace: namespaces[i].Name, Key: n.Key}
			if lc, ok := old[id]; ok && lc.incarnation == n.Incarnation && now.Sub(lc.at) < statusLeaseCountTTL {
				n.Leases, n.LeasesAtLeast = lc.n, lc.atLeast
				fresh[id] = lc
				continue
			}
			g.Go(func() error {
				lctx, cancel := c.s.backendContext(gctx)
				page, err := c.s.addrs.ListByNode(lctx, id, orbit.PageRequest{Limit: statusLeaseCountLimit})
				cancel()
				if err != nil {
					return nil // shown as not counted
				}
				lc := leaseCount{incarnation: n.Incarnation, n: len(page.Leases), atLeast: page.NextPageToken != "", at: now}
				n.Leases, n.LeasesAtLeast = lc.n, lc.atLeast
				fmu.Lock()
				fresh[id] = lc
				fmu.Unlock()
				return nil
			})
		}
	}
	_ = g.Wait()
	c.mu.Lock()
	c.counts = fresh
	c.mu.Unlock()
}

// providers is every configured provider as the health loop last saw it
// (no probe is made here), with its composite state when it is one.
func (c *statusSource) providers() []statuspage.Provider {
	list := c.s.ProviderStatuses()
	out := make([]statuspage.Provider, 0, len(list))
	for _, p := range list {
		v := statuspage.Provider{Name: p.Name, Type: p.Type, Roles: p.Roles, Health: "unknown",
			Capabilities: p.Capabilities}
		if v.Roles == nil {
			v.Roles = []string{}
		}
		if v.Capabilities == nil {
			v.Capabilities = []string{}
		}
		if !p.CheckedAt.IsZero() {
			at := p.CheckedAt.UTC()
			v.CheckedAt = &at
			v.Health = strings.ToLower(p.Health.Status.String())
			v.Reason = p.Health.Reason
		}
		// The registry is set before backend.open (attach): read it only
		// once that is true.
		if compositeStatusOf != nil && c.s.backend.open.Load() {
			if prov, err := c.s.registry.Provider(p.Name); err == nil {
				v.Composite = compositeStatusOf(prov)
			}
		}
		out = append(out, v)
	}
	return out
}

func eventsOut(list []audit.Event) []statuspage.Event {
	out := make([]statuspage.Event, len(list))
	for i, e := range list {
		out[i] = statuspage.Event{Time: e.Time.UTC(), Kind: string(e.Kind), Outcome: string(e.Outcome), Code: e.Code,
			Reason: e.Reason, Identity: e.Identity, Namespace: e.Namespace, Reference: e.Reference, Node: e.Node,
			PreviousNode: e.PreviousNode, From: e.From, To: e.To, Count: e.Count}
	}
	return out
}

// Lookup implements statuspage.Source as the Lookup RPC does: the lease
// of ref if its holder is a live member, never a placement.
func (c *statusSource) Lookup(ctx context.Context, ref orbit.AddressableReference) (statuspage.Lookup, error) {
	s := c.s
	out := statuspage.Lookup{Reference: ref.String()}
	if reason := s.backendPending(); reason != "" {
		return out, fmt.Errorf("storage backend not available yet: %s", reason)
	}
	ctx, cancel := s.backendContext(ctx)
	defer cancel()
	lease, err := s.addrs.Get(ctx, ref)
	if errors.Is(err, orbit.ErrNotFound) {
		out.Reason = "no lease: the next LocateOrPlace places it"
		return out, nil
	}
	if err != nil {
		return out, fmt.Errorf("reading the lease: %w", err)
	}
	alive, err := s.holderAlive(ctx, lease)
	if err != nil {
		return out, fmt.Errorf("checking the holder %s: %w", lease.Node, err)
	}
	if !alive {
		out.Reason = fmt.Sprintf("its holder, node %s, is gone; the next LocateOrPlace places it", lease.Node.Key)
		return out, nil
	}
	holder, _ := s.cachedHolder(ctx, lease)
	out.Found, out.Node, out.NodeURL = true, lease.Node.Key, holder.URL
	out.Epoch, out.ExpiresAt = lease.Epoch, lease.ExpiresAt.UTC()
	return out, nil
}

// Changes implements statuspage.Source: membership changes of namespaces
// (pushed by the directory's watch) and audit events.
func (c *statusSource) Changes(namespaces []string) (<-chan struct{}, func()) {
	out := make(chan struct{}, 1)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	forward := func(ch <-chan struct{}, unsub func()) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer unsub()
			for {
				select {
				case <-stop:
					return
				case <-ch:
					select {
					case out <- struct{}{}:
					default:
					}
				}
			}
		}()
	}
	for _, ns := range namespaces {
		ch, unsub := c.s.members.subscribe(ns)
		forward(ch, unsub)
	}
	if c.ring != nil {
		ch, unsub := c.ring.subscribe()
		forward(ch, unsub)
	}
	var once sync.Once
	return out, func() { once.Do(func() { close(stop); wg.Wait() }) }
}

// Done implements statuspage.Source: closed when Stop begins.
func (c *statusSource) Done() <-chan struct{} { return c.s.stopping }
