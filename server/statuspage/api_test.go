package statuspage_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	orbitv1 "github.com/orbit-go/orbit/api/orbit/v1"
	"github.com/orbit-go/orbit/server/statuspage"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The status shows every namespace's live nodes with URL, status, lease
// expiry and the leases each holds, and the providers from the health loop.
func TestStatusNodesLeasesProviders(t *testing.T) {
	e := startEnv(t, envOptions{})
	e.join(t, "default", "node-a", "Greeter")
	e.join(t, "default", "node-b", "Greeter")
	e.join(t, "shop", "cart-1", "Cart")
	held := map[string]int{}
	for i := range 7 {
		held[e.place(t, "default", "Greeter", fmt.Sprintf("g%d", i))]++
	}
	held[e.place(t, "shop", "Cart", "c0")]++

	st := e.status(t)
	if st.Server.DefaultNamespace != "default" || st.Server.Version != "test" {
		t.Errorf("server: %+v", st.Server)
	}
	if names := []string{st.Namespaces[0].Name, st.Namespaces[1].Name}; len(st.Namespaces) != 2 || !slices.Equal(names, []string{"default", "shop"}) {
		t.Fatalf("namespaces: %+v, want default then shop", st.Namespaces)
	}
	def := namespace(t, st, "default")
	if def.NodesTotal != 2 || len(def.Nodes) != 2 || def.Nodes[0].Key != "node-a" || def.Nodes[1].Key != "node-b" {
		t.Fatalf("default namespace nodes: %+v", def)
	}
	total := 0
	for _, n := range def.Nodes {
		if n.Status != "active" || n.URL != "grpc://10.0.0.1:7000/"+n.Key || n.Incarnation == 0 {
			t.Errorf("node %+v", n)
		}
		if want := e.clock.Now().Add(server3s); !n.ExpiresAt.Equal(want) {
			t.Errorf("node %s lease expires %s, want %s (join + node lease TTL)", n.Key, n.ExpiresAt, want)
		}
		if n.Leases != held[n.Key] || n.LeasesAtLeast {
			t.Errorf("node %s: %d leases (at least %v), want %d", n.Key, n.Leases, n.LeasesAtLeast, held[n.Key])
		}
		total += n.Leases
	}
	if total != 7 {
		t.Errorf("default namespace holds %d leases, want 7", total)
	}
	if shop := namespace(t, st, "shop"); len(shop.Nodes) != 1 || shop.Nodes[0].Leases != 1 || !slices.Equal(shop.Nodes[0].Types, []string{"Cart"}) {
		t.Errorf("shop: %+v", shop)
	}
	st = e.waitStatus(t, 10*time.Second, "memory provider checked", func(st statuspage.Status) bool {
		p, ok := provider(st, "memory")
		return ok && p.CheckedAt != nil
	})
	p, _ := provider(st, "memory")
	if p.Type != "Memory" && p.Type != "memory" || p.Health != "healthy" || !slices.Equal(p.Roles, []string{"addressable", "cluster"}) || len(p.Capabilities) == 0 {
		t.Errorf("memory provider: %+v", p)
	}
	if !st.Server.Ready || st.Audit != nil {
		t.Errorf("ready %v, audit %+v (no audit log configured: want nil)", st.Server.Ready, st.Audit)
	}
}

const server3s = 3 * time.Second // DefaultTimings().NodeLeaseTTL

// A lookup answers the holder, and never places: an unplaced reference is
// found false and stays unplaced.
func TestLookup(t *testing.T) {
	e := startEnv(t, envOptions{})
	e.join(t, "default", "node-a", "Greeter")
	holder := e.place(t, "default", "Greeter", "alice")

	resp, b := e.get(t, "api/v1/lookup?type=Greeter&key=alice")
	var got statuspage.Lookup
	if err := json.Unmarshal(b, &got); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("lookup alice: %s %s (%v)", resp.Status, b, err)
	}
	if !got.Found || got.Node != holder || got.NodeURL != "grpc://10.0.0.1:7000/node-a" || got.Epoch == 0 || got.Reference != "default/Greeter/s:alice" {
		t.Errorf("lookup alice: %+v, want held by %s", got, holder)
	}
	for range 2 {
		resp, b = e.get(t, "api/v1/lookup?namespace=default&type=Greeter&key=bob")
		got = statuspage.Lookup{}
		if err := json.Unmarshal(b, &got); err != nil || resp.StatusCode != http.StatusOK || got.Found || got.Reason == "" {
			t.Fatalf("lookup bob: %s %s (%v), want 200 found false with a reason", resp.Status, b, err)
		}
	}
	_, err := e.addrs.Lookup(bg, &orbitv1.LookupRequest{Reference: sref("default", "Greeter", "bob")})
	if status.Code(err) != codes.NotFound {
		t.Errorf("after the page's lookups, gRPC Lookup of bob: %v, want NotFound (the page must not place)", err)
	}
	if n := namespace(t, e.status(t), "default").Nodes[0].Leases; n != 1 {
		t.Errorf("node-a holds %d leases after the lookups, want 1", n)
	}
	// Integer keys.
	resp, b = e.get(t, "api/v1/lookup?type=Greeter&key=42&key_kind=int64")
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `"reference":"default/Greeter/i64:42","found":false`) {
		t.Errorf("int64 key: %s %s, want not found", resp.Status, b)
	}
}

// Bad lookup parameters are 400 naming the parameter; an overlong query
// is 414; nothing is looked up.
func TestLookupBadParameters(t *testing.T) {
	e := startEnv(t, envOptions{})
	for _, c := range []struct{ query, names string }{
		{"key=x", "reference.type"},
		{"type=Greeter&key=" + strings.Repeat("k", 300), "reference.key"},
		{"type=" + strings.Repeat("T", 300) + "&key=x", "reference.type"},
		{"namespace=" + url.QueryEscape("a\x01b") + "&type=T&key=x", "reference.namespace"},
		{"type=T&key=x&key=y", "key"},
		{"type=T&key=x&key_kind=float", "key_kind"},
		{"type=T&key=abc&key_kind=int32", "key"},
		{"type=T&key=99999999999&key_kind=int32", "key"},
		{"type=T&key=x&key_kind=none", "key"},
	} {
		resp, b := e.get(t, "api/v1/lookup?"+c.query)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), c.names) {
			t.Errorf("lookup ?%.60s: %s %s, want 400 naming %s", c.query, resp.Status, b, c.names)
		}
	}
	resp, _ := e.get(t, "api/v1/lookup?type=T&key="+strings.Repeat("k", 3000))
	if resp.StatusCode != http.StatusRequestURITooLong {
		t.Errorf("3000-byte query: %s, want 414", resp.Status)
	}
}

// The page is read-only (other methods 405 with Allow), has its security
// headers, serves its assets with their types, and 404s unknown paths.
func TestMethodsHeadersAssets(t *testing.T) {
	e := startEnv(t, envOptions{})
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch} {
		for _, p := range []string{"", "api/v1/status", "api/v1/lookup?type=T&key=k", "api/v1/events"} {
			resp, _ := e.do(t, m, p, "")
			if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
				t.Errorf("%s /%s: %s Allow %q, want 405 Allow GET, HEAD", m, p, resp.Status, resp.Header.Get("Allow"))
			}
		}
	}
	for p, ctype := range map[string]string{"": "text/html", "static/app.js": "javascript", "static/app.css": "text/css",
		"static/favicon.svg": "image/svg+xml", "favicon.ico": "image/svg+xml", "api/v1/status": "application/json"} {
		resp, b := e.get(t, p)
		if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Type"), ctype) || len(b) == 0 {
			t.Errorf("GET /%s: %s %q (%d bytes), want 200 %s", p, resp.Status, resp.Header.Get("Content-Type"), len(b), ctype)
		}
		csp := resp.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") ||
			resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET /%s: CSP %q, nosniff %q", p, csp, resp.Header.Get("X-Content-Type-Options"))
		}
		head, hb := e.do(t, http.MethodHead, p, "")
		if head.StatusCode != http.StatusOK || len(hb) != 0 {
			t.Errorf("HEAD /%s: %s with %d bytes, want 200 and no body", p, head.Status, len(hb))
		}
	}
	_, page := e.get(t, "")
	if strings.Contains(string(page), "<script>") || strings.Contains(string(page), " style=") || strings.Contains(string(page), "http://") || strings.Contains(string(page), "https://") {
		t.Errorf("the page has an inline script or style, or an external URL:\n%s", page)
	}
	for _, p := range []string{"nope", "static/nope.js", "api/v1/nope", "api/v2/status"} {
		if resp, _ := e.get(t, p); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET /%s: %s, want 404", p, resp.Status)
		}
	}
	// The admin routes that were there stay.
	for _, p := range []string{"metrics", "healthz", "readyz"} {
		if resp, _ := e.get(t, p); resp.StatusCode != http.StatusOK {
			t.Errorf("GET /%s: %s", p, resp.Status)
		}
	}
}

// sse reads a server-sent event stream.
type sse struct {
	resp *http.Response
	r    *bufio.Reader
}

func (e *env) openEvents(t *testing.T, ctx context.Context) (*http.Response, *sse) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.base+"api/v1/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	if e.header != "" {
		req.Header.Set("Authorization", e.header)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET /api/v1/events: %v", err)
	}
	t.Cleanup(func() { _ = resp.Body.Close() })
	return resp, &sse{resp: resp, r: bufio.NewReader(resp.Body)}
}

// next returns the next event's name and data.
func (s *sse) next() (string, string, error) {
	var name, data string
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			return "", "", err
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case line == "":
			if name != "" || data != "" {
				return name, data, nil
			}
		case strings.HasPrefix(line, "event: "):
			name = line[len("event: "):]
		case strings.HasPrefix(line, "data: "):
			data += line[len("data: "):]
		}
	}
}

// nextStatus returns the next "status" event.
func (s *sse) nextStatus(t *testing.T) statuspage.Status {
	t.Helper()
	for {
		name, data, err := s.next()
		if err != nil {
			t.Fatalf("event stream: %v", err)
		}
		if name != "status" {
			continue
		}
		var st statuspage.Status
		if err := json.Unmarshal([]byte(data), &st); err != nil {
			t.Fatalf("status event: %v\n%s", err, data)
		}
		return st
	}
}

func hasNode(st statuspage.Status, ns, key string) bool {
	for _, n := range st.Namespaces {
		if n.Name != ns {
			continue
		}
		for _, x := range n.Nodes {
			if x.Key == key {
				return true
			}
		}
	}
	return false
}

// The event stream sends the status at once, then pushes a join (the
// membership watch, not the refresh: it comes well before a refresh
// would), and audit events when the audit log is on.
func TestEventsPushMembershipAndAudit(t *testing.T) {
	e := startEnv(t, envOptions{audit: newAuditLog(t)})
	ctx, cancel := context.WithTimeout(bg, 30*time.Second)
	defer cancel()
	resp, s := e.openEvents(t, ctx)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("events: %s %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	first := s.nextStatus(t)
	if hasNode(first, "default", "late") || first.Audit == nil {
		t.Fatalf("first status: %+v", first)
	}
	e.join(t, "default", "late", "Greeter")
	joined := time.Now()
	for {
		st := s.nextStatus(t)
		if !hasNode(st, "default", "late") {
			continue
		}
		t.Logf("join pushed %s after the Join returned", time.Since(joined))
		if len(st.Audit.Events) == 0 || st.Audit.Events[0].Kind != "node.join" || st.Audit.Events[0].Node != "late" ||
			st.Audit.Events[0].Outcome != "ok" {
			t.Errorf("audit events: %+v, want node.join of late first", st.Audit.Events)
		}
		break
	}
	// An event of a namespace the page shows is pushed too (placement).
	e.place(t, "default", "Greeter", "x")
	for {
		st := s.nextStatus(t)
		if len(st.Audit.Events) > 0 && st.Audit.Events[0].Kind == "addressable.place" {
			if st.Audit.Events[0].Reference != "default/Greeter/s:x" {
				t.Errorf("place event: %+v", st.Audit.Events[0])
			}
			break
		}
	}
}

// At most 32 event streams are open; the next is 503 naming the limit, and
// a closed stream frees its slot.
func TestEventStreamsBounded(t *testing.T) {
	e := startEnv(t, envOptions{})
	var cancels []context.CancelFunc
	defer func() {
		for _, c := range cancels {
			c()
		}
	}()
	for i := range statuspage.DefaultMaxStreams {
		ctx, cancel := context.WithCancel(bg)
		cancels = append(cancels, cancel)
		resp, s := e.openEvents(t, ctx)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("stream %d: %s", i, resp.Status)
		}
		s.nextStatus(t) // the handler runs: its slot is taken
	}
	ctx, cancel := context.WithCancel(bg)
	resp, _ := e.openEvents(t, ctx)
	b := make([]byte, 512)
	n, _ := resp.Body.Read(b)
	cancel()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(b[:n]), "at most 32") {
		t.Fatalf("stream 33: %s %s, want 503 naming the limit", resp.Status, b[:n])
	}
	cancels[0]()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithCancel(bg)
		cancels = append(cancels, cancel)
		resp, _ := e.openEvents(t, ctx)
		if resp.StatusCode == http.StatusOK {
			break
		}
		cancel()
		if time.Now().After(deadline) {
			t.Fatalf("a closed stream's slot was not freed: %s", resp.Status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop ends the open event streams: the admin listener's shutdown does not
// wait for them.
func TestStopEndsEventStreams(t *testing.T) {
	e := startEnv(t, envOptions{})
	resp, s := e.openEvents(t, bg)
	if resp.StatusCode != http.StatusOK {
		t.Fatal(resp.Status)
	}
	s.nextStatus(t)
	ctx, cancel := context.WithTimeout(bg, 10*time.Second)
	defer cancel()
	if err := e.srv.Stop(ctx); err != nil {
		t.Fatalf("stop with an open event stream: %v", err)
	}
	for {
		if _, _, err := s.next(); err != nil {
			break // the stream ended
		}
	}
}

// With auth on, the page and its API need a reader: 401 without a token
// or with an unknown one, 200 with the reader's; no token is on the page.
func TestAuthReader(t *testing.T) {
	e := startEnv(t, envOptions{auth: true})
	e.join(t, "default", "node-a")
	for _, p := range []string{"", "static/app.js", "api/v1/status", "api/v1/lookup?type=T&key=k", "api/v1/events"} {
		resp, b := e.do(t, http.MethodGet, p, "")
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(resp.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("GET /%s without a token: %s %s, want 401", p, resp.Status, b)
		}
		resp, _ = e.do(t, http.MethodGet, p, "Bearer not-a-token-0123456789abcdefghijklmnop")
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET /%s with an unknown token: %s, want 401", p, resp.Status)
		}
	}
	st := e.status(t)
	if !hasNode(st, "default", "node-a") {
		t.Errorf("status with the reader token: %+v", st)
	}
	_, page := e.get(t, "")
	if strings.Contains(string(page), readerToken) || strings.Contains(string(page), opsToken) {
		t.Error("the page shows a token")
	}
}

// A composite provider's state is on the status: which side serves, the
// generation, each side's health.
func TestCompositeState(t *testing.T) {
	e := startEnv(t, envOptions{providers: `
[providers.ha]
type = "Composite"
health_check_interval = 1

[providers.ha.primary]
type = "Memory"

[providers.ha.backup]
type = "Memory"
`})
	st := e.waitStatus(t, 10*time.Second, "the composite checked", func(st statuspage.Status) bool {
		p, ok := provider(st, "ha")
		return ok && p.CheckedAt != nil
	})
	p, _ := provider(st, "ha")
	c := p.Composite
	if c == nil {
		t.Fatalf("provider ha: %+v, want its composite state", p)
	}
	if c.Active != "primary" || len(c.Sides) != 2 || c.Sides[0].Role != "primary" || c.Sides[0].Name != "ha.primary" ||
		c.Sides[1].Role != "backup" || c.Sides[1].Name != "ha.backup" || c.Sides[0].Health != "healthy" {
		t.Errorf("composite: %+v", c)
	}
	if m, _ := provider(st, "memory"); m.Composite != nil || len(p.Roles) != 0 {
		t.Errorf("memory: composite %+v; ha roles %v (not a default)", m.Composite, p.Roles)
	}
}

// The recent audit events are bounded (the last 100), newest first.
func TestAuditEventsBounded(t *testing.T) {
	e := startEnv(t, envOptions{audit: newAuditLog(t)})
	e.join(t, "default", "node-a", "Greeter")
	for i := range 120 {
		e.place(t, "default", "Greeter", fmt.Sprintf("k%03d", i))
	}
	st := e.status(t)
	if st.Audit == nil || st.Audit.Capacity != 100 || len(st.Audit.Events) != 100 {
		t.Fatalf("audit: %+v, want the last 100 events", st.Audit)
	}
	for i, ev := range st.Audit.Events {
		if want := fmt.Sprintf("default/Greeter/s:k%03d", 119-i); ev.Reference != want || ev.Kind != "addressable.place" || ev.Node != "node-a" {
			t.Fatalf("event %d: %+v, want the placement of %s", i, ev, want)
		}
	}
}
