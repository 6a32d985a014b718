package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orbit-go/orbit"
	orbitv1 "github.com/orbit-go/orbit/api/orbit/v1"
	"github.com/orbit-go/orbit/client"
	"github.com/orbit-go/orbit/clock"
	"github.com/orbit-go/orbit/persistence"
	"github.com/orbit-go/orbit/persistence/config"
	_ "github.com/orbit-go/orbit/persistence/memory"
	"github.com/orbit-go/orbit/server/auth"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

var bg = context.Background()

// limited is one started server with the given limits on a memory
// provider and a manual clock, and a client connection to it.
type limited struct {
	s     *Server
	conn  *grpc.ClientConn
	clock *clock.Manual
	logs  *syncBuffer
}

func (l *limited) nodes() orbitv1.NodeServiceClient { return orbitv1.NewNodeServiceClient(l.conn) }
func (l *limited) addrs() orbitv1.AddressableServiceClient {
	return orbitv1.NewAddressableServiceClient(l.conn)
}

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// newLimited builds and starts the server; hook (may be nil) runs before
// each handler, and prepare (optional) edits the built server before Start.
func newLimited(t testing.TB, l Limits, hook func(ctx context.Context, method string), prepare ...func(*Server)) *limited {
	t.Helper()
	cfg, err := config.NewBuilder().WithMemory("memory", config.DefaultMemoryConfig(), true).Build()
	if err != nil {
		t.Fatal(err)
	}
	out := &limited{clock: clock.NewManual(time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)), logs: &syncBuffer{}}
	reg, err := persistence.OpenRegistry(bg, cfg, persistence.WithClock(out.clock), persistence.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Close(bg) })
	s, err := NewBuilder().WithListenAddress("127.0.0.1:0").WithRegistry(reg).WithClock(out.clock).
		WithLimits(l).WithLogger(slog.New(slog.NewTextHandler(out.logs, nil))).Build(bg)
	if err != nil {
		t.Fatal(err)
	}
	s.deadline.hook = hook
	for _, p := range prepare {
		p(s)
	}
	if err := s.Start(bg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop(bg) })
	conn, err := grpc.NewClient(s.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	out.s, out.conn = s, conn
	return out
}

func joinReq(ns, key string) *orbitv1.JoinRequest {
	return &orbitv1.JoinRequest{Namespace: ns, NodeKey: key, Url: "grpc://127.0.0.1:1",
		Capabilities: &orbitv1.NodeCapabilities{AddressableTypes: []string{"Greeter"}}}
}

// wantStatus fails unless err has code and a message containing each of want.
func wantStatus(t *testing.T, what string, err error, code codes.Code, want ...string) {
	t.Helper()
	st, _ := status.FromError(err)
	if st.Code() != code {
		t.Fatalf("%s: %v, want code %s", what, err, code)
	}
	for _, w := range want {
		if !strings.Contains(st.Message(), w) {
			t.Fatalf("%s: message %q does not contain %q", what, st.Message(), w)
		}
	}
}

// Zero fields take their defaults; a config table converts key by key
// (seconds to durations); an impossible Limits is refused by Build naming
// the field.
func TestLimitsDefaultsAndConfig(t *testing.T) {
	d := DefaultLimits()
	if got := (Limits{}).withDefaults(); got != d {
		t.Fatalf("zero Limits with defaults = %+v, want %+v", got, d)
	}
	if got := LimitsFromConfig(nil); got != d {
		t.Fatalf("LimitsFromConfig(nil) = %+v", got)
	}
	got := LimitsFromConfig(&config.LimitsConfig{MaxNodesPerNamespace: 7, BackendTimeout: 3, RatePerSecond: 20, MaxListPageSize: 100})
	want := d
	want.MaxNodesPerNamespace, want.BackendTimeout, want.RatePerSecond, want.MaxListPageSize, want.DefaultListPageSize = 7, 3*time.Second, 20, 100, 100
	if got != want {
		t.Fatalf("LimitsFromConfig = %+v, want %+v", got, want)
	}
	for _, tc := range []struct {
		l    Limits
		want string
	}{
		{Limits{MaxWatches: -1}, "MaxWatches must be positive"},
		{Limits{MaxWatches: 4, MaxWatchesPerCaller: 5}, "MaxWatchesPerCaller (5) exceeds MaxWatches (4)"},
		{Limits{DefaultListPageSize: 10, MaxListPageSize: 5}, "DefaultListPageSize (10) exceeds MaxListPageSize (5)"},
		{Limits{RatePerSecond: -1}, "RatePerSecond must be positive"},
	} {
		reg := persistence.NewRegistry()
		_, err := NewBuilder().WithRegistry(reg).WithLimits(tc.l).Build(bg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Build with %+v: %v, want %q", tc.l, err, tc.want)
		}
	}
}

// A join flood into one namespace stops at MaxNodesPerNamespace: each join
// beyond it is ResourceExhausted naming the limit, a live key re-joining is
// not counted as a new node, and a node leaving makes room again.
func TestJoinBeyondNodeLimit(t *testing.T) {
	l := newLimited(t, Limits{MaxNodesPerNamespace: 5}, nil)
	var first *orbitv1.JoinResponse
	for i := range 5 {
		r, err := l.nodes().Join(bg, joinReq("ns", fmt.Sprint("n", i)))
		if err != nil {
			t.Fatalf("join %d: %v", i, err)
		}
		if i == 0 {
			first = r
		}
	}
	for i := range 20 {
		_, err := l.nodes().Join(bg, joinReq("ns", ""))
		wantStatus(t, fmt.Sprint("join beyond the limit ", i), err, codes.ResourceExhausted,
			`namespace "ns" has 5 live nodes`, "server.limits.max_nodes_per_namespace", "is 5")
	}
	_, err := l.nodes().Join(bg, joinReq("ns", "n0"))
	wantStatus(t, "re-join of a live key", err, codes.AlreadyExists)
	list, err := l.s.nodes.ListAll(bg, "ns")
	if err != nil || len(list) != 5 {
		t.Fatalf("directory holds %d nodes (%v), want 5", len(list), err)
	}
	if _, err := l.nodes().Leave(bg, &orbitv1.LeaveRequest{Id: first.GetId(), ChallengeToken: first.GetLease().GetChallengeToken()}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.nodes().Join(bg, joinReq("ns", "")); err != nil {
		t.Fatalf("join after a leave: %v", err)
	}
}

// Joins opening namespaces stop at MaxNamespaces (ResourceExhausted naming
// the limit); joins into a namespace that has nodes are not refused by it,
// and a namespace whose nodes all left no longer counts.
func TestJoinBeyondNamespaceLimit(t *testing.T) {
	l := newLimited(t, Limits{MaxNamespaces: 3}, nil)
	joined := map[string]*orbitv1.JoinResponse{}
	for _, ns := range []string{"a", "b", "c"} {
		r, err := l.nodes().Join(bg, joinReq(ns, "n"))
		if err != nil {
			t.Fatal(err)
		}
		joined[ns] = r
	}
	for i := range 10 {
		_, err := l.nodes().Join(bg, joinReq(fmt.Sprint("new", i), "n"))
		wantStatus(t, "join opening a 4th namespace", err, codes.ResourceExhausted, "server.limits.max_namespaces", "is 3")
	}
	if _, err := l.nodes().Join(bg, joinReq("a", "m")); err != nil {
		t.Fatalf("join into a namespace with nodes: %v", err)
	}
	b := joined["b"]
	if _, err := l.nodes().Leave(bg, &orbitv1.LeaveRequest{Id: b.GetId(), ChallengeToken: b.GetLease().GetChallengeToken()}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.nodes().Join(bg, joinReq("d", "n")); err != nil {
		t.Fatalf("join into a 4th namespace once b is empty: %v", err)
	}
	if n := l.s.cache.size(); n != 3 {
		t.Fatalf("node cache holds %d namespaces, want 3 (a, c, d)", n)
	}
}

// ListNodes answers pages in key order with a token to the next; a bad
// token or a negative size is InvalidArgument naming the field; a size
// above the maximum is capped; the Go client pages through all of it.
func TestListNodesPaged(t *testing.T) {
	l := newLimited(t, Limits{DefaultListPageSize: 4, MaxListPageSize: 5}, nil)
	var want []string
	for i := range 12 {
		key := fmt.Sprintf("k%02d", 11-i) // joined in reverse order
		if _, err := l.nodes().Join(bg, joinReq("default", key)); err != nil {
			t.Fatal(err)
		}
		want = append([]string{key}, want...)
	}
	var got []string
	var sizes []int
	for token := ""; ; {
		r, err := l.nodes().ListNodes(bg, &orbitv1.ListNodesRequest{PageSize: 100, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, len(r.GetNodes()))
		for _, n := range r.GetNodes() {
			got = append(got, n.GetId().GetKey())
		}
		if token = r.GetNextPageToken(); token == "" {
			break
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) || fmt.Sprint(sizes) != "[5 5 2]" {
		t.Fatalf("pages %v: %v, want pages [5 5 2] of %v", sizes, got, want)
	}
	r, err := l.nodes().ListNodes(bg, &orbitv1.ListNodesRequest{})
	if err != nil || len(r.GetNodes()) != 4 || r.GetNextPageToken() == "" {
		t.Fatalf("default page: %d nodes, token %q, %v; want 4 and a token", len(r.GetNodes()), r.GetNextPageToken(), err)
	}
	_, err = l.nodes().ListNodes(bg, &orbitv1.ListNodesRequest{PageToken: "garbage"})
	wantStatus(t, "bad token", err, codes.InvalidArgument, "page_token")
	_, err = l.nodes().ListNodes(bg, &orbitv1.ListNodesRequest{PageSize: -1})
	wantStatus(t, "negative size", err, codes.InvalidArgument, "page_size")

	c, err := client.Dial(bg, l.s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	all, err := c.ListNodes(bg, false)
	if err != nil || len(all) != 12 {
		t.Fatalf("client ListNodes: %d nodes, %v; want all 12 over 3 pages", len(all), err)
	}
	for i, n := range all {
		if n.ID.Key != want[i] {
			t.Fatalf("client ListNodes[%d] = %s, want %s", i, n.ID.Key, want[i])
		}
	}
}

// Watch streams are bounded per caller (one host is one anonymous caller,
// whatever its connections) and in total; one beyond is ResourceExhausted
// naming the limit, and a closed watch frees its slot and its entry.
func TestWatchStreamsLimited(t *testing.T) {
	l := newLimited(t, Limits{MaxWatchesPerCaller: 3, MaxWatches: 10}, nil)
	if _, err := l.nodes().Join(bg, joinReq("default", "n")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(bg)
	defer cancel()
	var cancels []context.CancelFunc
	for i := range 3 {
		wctx, wcancel := context.WithCancel(ctx)
		cancels = append(cancels, wcancel)
		st, err := l.nodes().WatchNodes(wctx, &orbitv1.WatchNodesRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Recv(); err != nil {
			t.Fatalf("watch %d: %v", i, err)
		}
	}
	conn2, err := grpc.NewClient(l.s.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close()
	st, err := orbitv1.NewNodeServiceClient(conn2).WatchNodes(ctx, &orbitv1.WatchNodesRequest{})
	if err == nil {
		_, err = st.Recv()
	}
	wantStatus(t, "4th watch from the same host on another connection", err, codes.ResourceExhausted,
		"server.limits.max_watches_per_caller", "is 3", "host:127.0.0.1")
	cancels[0]()
	waitFor(t, "the closed watch's slot to be freed", func() bool { open, _ := l.s.watches.counts(); return open == 2 })
	st, err = l.nodes().WatchNodes(ctx, &orbitv1.WatchNodesRequest{})
	if err == nil {
		_, err = st.Recv()
	}
	if err != nil {
		t.Fatalf("watch after one closed: %v", err)
	}
	cancel()
	waitFor(t, "every watch to end", func() bool { open, callers := l.s.watches.counts(); return open == 0 && callers == 0 })

	// The total bound, over distinct identities.
	w := newWatchLimiter(2, 3)
	var releases []func()
	for i := range 3 {
		r, err := w.acquire(auth.NewContext(bg, auth.Identity{Name: fmt.Sprint("id", i), Kind: auth.Token}))
		if err != nil {
			t.Fatal(err)
		}
		releases = append(releases, r)
	}
	_, err = w.acquire(auth.NewContext(bg, auth.Identity{Name: "id9", Kind: auth.Token}))
	wantStatus(t, "4th watch in total", err, codes.ResourceExhausted, "server.limits.max_watches", "is 3")
	for _, r := range releases {
		r()
		r() // a second release is harmless
	}
	if open, callers := w.counts(); open != 0 || callers != 0 {
		t.Fatalf("after release: %d open, %d callers", open, callers)
	}
}

// waitFor waits (without a time bound of its own: the test's deadline is
// the bound) until cond holds, for effects of a client's cancel that the
// server sees asynchronously.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		if t.Context().Err() != nil {
			t.Fatalf("test ended waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// Each caller has its own token bucket: beyond the burst (at a rate that
// refills nothing during the test) calls are ResourceExhausted naming the
// limit; another caller is unaffected; the table forgets the least
// recently seen caller beyond RateCallers.
func TestRateLimitPerCaller(t *testing.T) {
	l := newLimited(t, Limits{RatePerSecond: 0.0001, RateBurst: 5}, nil)
	for i := range 5 {
		if _, err := l.nodes().ListNodes(bg, &orbitv1.ListNodesRequest{}); err != nil {
			t.Fatalf("call %d within the burst: %v", i, err)
		}
	}
	_, err := l.nodes().ListNodes(bg, &orbitv1.ListNodesRequest{})
	wantStatus(t, "call beyond the burst", err, codes.ResourceExhausted, "server.limits.rate_per_second", "host:127.0.0.1")
	st, err := l.nodes().WatchNodes(bg, &orbitv1.WatchNodesRequest{})
	if err == nil {
		_, err = st.Recv()
	}
	wantStatus(t, "stream beyond the burst", err, codes.ResourceExhausted, "server.limits.rate_burst")

	r := newRateLimiter(0.0001, 2, 10)
	alice := auth.NewContext(bg, auth.Identity{Name: "alice", Kind: auth.Token})
	bob := auth.NewContext(bg, auth.Identity{Name: "bob", Kind: auth.Certificate})
	for range 2 {
		if r.check(alice) != nil {
			t.Fatal("alice refused within her burst")
		}
	}
	wantStatus(t, "alice beyond her burst", r.check(alice), codes.ResourceExhausted, "token:alice")
	if r.check(bob) != nil {
		t.Fatal("bob refused because of alice")
	}
	for i := range 1000 {
		r.allow(fmt.Sprint("caller", i))
	}
	if n := r.callers(); n != 10 {
		t.Fatalf("rate table holds %d callers, want the bound 10", n)
	}
}

// A handler that panics is answered Internal, logged with the method and
// without the panic's (possibly secret-bearing) value, and the server keeps
// serving; the same for a stream.
func TestPanicAnsweredInternal(t *testing.T) {
	const secret = "Sup3rSecret-in-the-request"
	l := newLimited(t, Limits{}, func(ctx context.Context, method string) {
		if method == orbitv1.NodeService_ListNodes_FullMethodName || method == orbitv1.NodeService_WatchNodes_FullMethodName {
			panic(errors.New("bad state for token " + secret))
		}
	})
	_, err := l.nodes().ListNodes(bg, &orbitv1.ListNodesRequest{})
	wantStatus(t, "panicking unary handler", err, codes.Internal, "ListNodes", "internal error")
	st, err := l.nodes().WatchNodes(bg, &orbitv1.WatchNodesRequest{})
	if err == nil {
		_, err = st.Recv()
	}
	wantStatus(t, "panicking stream handler", err, codes.Internal, "WatchNodes")
	if _, err := l.nodes().Join(bg, joinReq("default", "n")); err != nil {
		t.Fatalf("the server no longer serves after a panic: %v", err)
	}
	logs := l.logs.String()
	if !strings.Contains(logs, "handler panicked") || !strings.Contains(logs, "/orbit.v1.NodeService/ListNodes") ||
		!strings.Contains(logs, "*errors.errorString") {
		t.Fatalf("the panic is not logged with method and type:\n%s", logs)
	}
	if strings.Contains(logs, secret) || strings.Contains(err.Error(), secret) {
		t.Fatalf("the panic's value reached the log or the caller:\n%s", logs)
	}
}

// blockingNodes is a cluster directory whose listings hang until their
// context ends (a stuck backend).
type blockingNodes struct {
	persistence.ClusterNodeDirectory
}

func (blockingNodes) ListAll(ctx context.Context, _ string) ([]orbit.NodeInfo, error) {
	<-ctx.Done()
	return nil, fmt.Errorf("blocked listing: %w", ctx.Err())
}

func (b blockingNodes) ListActive(ctx context.Context, ns string) ([]orbit.NodeInfo, error) {
	return b.ListAll(ctx, ns)
}

// Storage calls made for a request run under BackendTimeout: a stuck
// backend answers DeadlineExceeded instead of holding the call; the handler
// sees a deadline no later than the timeout.
func TestBackendDeadline(t *testing.T) {
	const timeout = 50 * time.Millisecond
	var mu sync.Mutex
	var deadlines []time.Duration
	l := newLimited(t, Limits{BackendTimeout: timeout}, func(ctx context.Context, _ string) {
		if d, ok := ctx.Deadline(); ok {
			mu.Lock()
			deadlines = append(deadlines, time.Until(d))
			mu.Unlock()
		}
	}, func(s *Server) { s.nodes = blockingNodes{s.nodes} })
	_, err := l.nodes().ListNodes(bg, &orbitv1.ListNodesRequest{}) // no client deadline
	wantStatus(t, "ListNodes on a stuck backend", err, codes.DeadlineExceeded)
	st, err := l.nodes().WatchNodes(bg, &orbitv1.WatchNodesRequest{})
	if err == nil {
		_, err = st.Recv()
	}
	wantStatus(t, "WatchNodes on a stuck backend", err, codes.DeadlineExceeded)
	mu.Lock()
	defer mu.Unlock()
	if len(deadlines) != 1 || deadlines[0] > timeout {
		t.Fatalf("handler deadlines %v, want one within %s", deadlines, timeout)
	}
}

// Calls in flight on all connections are bounded: with two calls held in
// the handler, a third is ResourceExhausted naming the limit. A request
// larger than MaxRecvMessageBytes is refused by gRPC.
func TestInFlightAndMessageSize(t *testing.T) {
	hold := make(chan struct{})
	entered := make(chan struct{}, 8)
	l := newLimited(t, Limits{MaxStreams: 2, MaxStreamsPerConnection: 2, MaxRecvMessageBytes: 1024}, func(ctx context.Context, method string) {
		if method == orbitv1.NodeService_ListNodes_FullMethodName {
			entered <- struct{}{}
			<-hold
		}
	})
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = l.nodes().ListNodes(bg, &orbitv1.ListNodesRequest{})
		}()
	}
	<-entered
	<-entered
	conn2, err := grpc.NewClient(l.s.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close()
	_, err = orbitv1.NewNodeServiceClient(conn2).Join(bg, joinReq("default", "n"))
	wantStatus(t, "third call in flight", err, codes.ResourceExhausted, "server.limits.max_streams", "is 2")
	close(hold)
	wg.Wait()
	if _, err := l.nodes().Join(bg, joinReq("default", "n")); err != nil {
		t.Fatalf("join once the calls ended: %v", err)
	}
	big := joinReq("default", "m")
	big.Url = "grpc://" + strings.Repeat("h", 2000) + ":1"
	_, err = l.nodes().Join(bg, big)
	wantStatus(t, "request above max_recv_message_bytes", err, codes.ResourceExhausted)
}

// MaxStreamsPerConnection is HTTP/2's stream limit: with the one slot of a
// connection held by a call, the next call on that connection waits (and
// here ends at its own deadline) while another connection is served.
func TestStreamsPerConnection(t *testing.T) {
	hold := make(chan struct{})
	entered := make(chan struct{}, 1)
	l := newLimited(t, Limits{MaxStreamsPerConnection: 1}, func(ctx context.Context, method string) {
		if method == orbitv1.NodeService_ListNodes_FullMethodName {
			entered <- struct{}{}
			<-hold
		}
	})
	done := make(chan error, 1)
	go func() {
		_, err := l.nodes().ListNodes(bg, &orbitv1.ListNodesRequest{})
		done <- err
	}()
	<-entered
	ctx, cancel := context.WithTimeout(bg, 200*time.Millisecond)
	defer cancel()
	_, err := l.nodes().Join(ctx, joinReq("default", "n"))
	wantStatus(t, "second call on a connection with one slot", err, codes.DeadlineExceeded)
	conn2, err := grpc.NewClient(l.s.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close()
	if _, err := orbitv1.NewNodeServiceClient(conn2).Join(bg, joinReq("default", "n")); err != nil {
		t.Fatalf("call on another connection: %v", err)
	}
	close(hold)
	if err := <-done; err != nil {
		t.Fatalf("held call: %v", err)
	}
	list, err := l.s.nodes.ListAll(bg, "default")
	if err != nil || len(list) != 1 {
		t.Fatalf("%d nodes (%v): the waiting join must not have run", len(list), err)
	}
}
