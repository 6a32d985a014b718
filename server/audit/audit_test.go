package audit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orbit-go/orbit/clock"
	"github.com/orbit-go/orbit/persistence/config"
	"github.com/orbit-go/orbit/server/audit"
	"github.com/orbit-go/orbit/server/auth"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

var bg = context.Background()

// syncBuffer is a bytes.Buffer safe for the writer goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	return parseLines(t, s.b.String())
}

func parseLines(t *testing.T, text string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("line %q is not JSON: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// An event becomes one JSON line with every set field, the time from the
// clock and the identity and peer from the context.
func TestRecordWritesOneJSONLine(t *testing.T) {
	clk := clock.NewManual(time.Date(2026, 12, 3, 10, 0, 0, 123456789, time.UTC))
	var buf syncBuffer
	l := audit.New(&buf, audit.WithClock(clk))
	ctx := auth.NewContext(bg, auth.Identity{Name: "deployer", Kind: auth.Token, Peer: "127.0.0.1:5000"})
	l.Record(ctx, audit.Event{Kind: audit.Takeover, Outcome: audit.OK, Namespace: "default",
		Reference: "default/Greeter/alice", Node: "b", Incarnation: 9, PreviousNode: "a", EpochBefore: 3, EpochAfter: 4})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	buf.mu.Lock()
	got := buf.b.String()
	buf.mu.Unlock()
	want := `{"time":"2026-12-03T10:00:00.123456789Z","log":"audit","event":"addressable.takeover","outcome":"ok","identity":"token:deployer",` +
		`"peer":"127.0.0.1:5000","namespace":"default","reference":"default/Greeter/alice","node":"b","incarnation":"9",` +
		`"previous_node":"a","epoch_before":3,"epoch_after":4}` + "\n"
	if got != want {
		t.Fatalf("line\n%s\nwant\n%s", got, want)
	}
}

// Strings are escaped so that every line is valid JSON whatever a
// reference or a message holds, and decode back to the same text (invalid
// UTF-8 bytes as U+FFFD, as encoding/json does).
func TestEncodingEscapes(t *testing.T) {
	var buf syncBuffer
	l := audit.New(&buf)
	weird := []string{"quo\"te\\back", "new\nline\ttab\r", "\x00\x1f<>&", "ünï\u2028\u2029", "bad\xffutf8"}
	for _, s := range weird {
		l.Record(bg, audit.Event{Kind: audit.Place, Outcome: audit.Refused, Reason: s, Reference: s})
	}
	_ = l.Close()
	lines := buf.lines(t)
	if len(lines) != len(weird) {
		t.Fatalf("%d lines for %d events", len(lines), len(weird))
	}
	for i, s := range weird {
		want := viaJSON(s)
		if lines[i]["reason"] != want || lines[i]["reference"] != want {
			t.Errorf("%q came back as %q", s, lines[i]["reason"])
		}
		if lines[i]["identity"] != "anonymous" {
			t.Errorf("identity = %v, want anonymous", lines[i]["identity"])
		}
	}
}

func FuzzEncoding(f *testing.F) {
	for _, s := range []string{"", "a", "\"", "\\u0000", "\xed\xa0\x80", "\u2028"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var buf syncBuffer
		l := audit.New(&buf)
		l.Record(bg, audit.Event{Kind: audit.Kind(s), Node: s})
		_ = l.Close()
		lines := buf.lines(t)
		if len(lines) != 1 || lines[0]["node"] != nonEmpty(viaJSON(s)) {
			t.Fatalf("%q: %v", s, lines)
		}
	})
}

// viaJSON is s as encoding/json encodes and decodes it (each invalid
// UTF-8 byte becomes U+FFFD).
func viaJSON(s string) string {
	b, _ := json.Marshal(s)
	var out string
	_ = json.Unmarshal(b, &out)
	return out
}

func nonEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// blockingWriter holds every Write until released, and says when the
// first one started.
type blockingWriter struct {
	release, entered chan struct{}
	once             sync.Once
	syncBuffer
}

func (b *blockingWriter) Write(p []byte) (int, error) {
	b.once.Do(func() { close(b.entered) })
	<-b.release
	return b.syncBuffer.Write(p)
}

// A full queue never blocks Record: the events are dropped, counted in
// the metric, and the next line written says how many were lost.
func TestFullQueueDropsAndCounts(t *testing.T) {
	w := &blockingWriter{release: make(chan struct{}), entered: make(chan struct{})}
	l := audit.New(w, audit.WithQueueSize(4))
	reg := prometheus.NewRegistry()
	reg.MustRegister(l)
	// The writer takes the first event and blocks writing it; 4 more fill
	// the queue; everything after is dropped.
	l.Record(bg, audit.Event{Kind: audit.Place, Outcome: audit.OK, Node: "first"})
	<-w.entered
	if q := testutil.ToFloat64(queueLen(l)); q != 0 {
		t.Fatalf("queue length %v while the first write blocks, want 0", q)
	}
	for range 4 + 10 {
		l.Record(bg, audit.Event{Kind: audit.Place, Outcome: audit.OK})
	}
	if l.Dropped() != 10 {
		t.Fatalf("dropped = %d, want 10", l.Dropped())
	}
	if n, err := testutil.GatherAndCount(reg, "orbit_server_audit_events_dropped_total"); err != nil || n != 1 {
		t.Fatalf("metric: %d, %v", n, err)
	}
	close(w.release)
	_ = l.Close()
	lines := w.lines(t)
	if len(lines) != 1+4+1 {
		t.Fatalf("%d lines, want 6: %v", len(lines), lines)
	}
	last := lines[len(lines)-1]
	if last["event"] != "audit.dropped" || last["count"] != float64(10) {
		t.Fatalf("last line %v, want audit.dropped with count 10", last)
	}
}

// queueLen exposes the queue length gauge as a collector for testutil.
func queueLen(l *audit.Log) prometheus.Collector {
	return gaugeOf{l, "orbit_server_audit_queue_length"}
}

type gaugeOf struct {
	l    *audit.Log
	name string
}

func (g gaugeOf) Describe(ch chan<- *prometheus.Desc) { g.l.Describe(ch) }
func (g gaugeOf) Collect(ch chan<- prometheus.Metric) {
	all := make(chan prometheus.Metric, 8)
	g.l.Collect(all)
	close(all)
	for m := range all {
		if strings.Contains(m.Desc().String(), `"`+g.name+`"`) {
			ch <- m
		}
	}
}

// Close writes everything queued; Flush waits for what was recorded; events
// after Close are dropped, and Close may be called again.
func TestCloseFlushes(t *testing.T) {
	var buf syncBuffer
	l := audit.New(&buf)
	for range 1000 {
		l.Record(bg, audit.Event{Kind: audit.Place, Outcome: audit.OK})
	}
	if err := l.Flush(bg); err != nil {
		t.Fatal(err)
	}
	if n := len(buf.lines(t)); n != 1000 {
		t.Fatalf("after Flush: %d lines, want 1000", n)
	}
	l.Record(bg, audit.Event{Kind: audit.Abandon, Outcome: audit.OK})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if n := len(buf.lines(t)); n != 1001 {
		t.Fatalf("after Close: %d lines, want 1001", n)
	}
	l.Record(bg, audit.Event{Kind: audit.Abandon, Outcome: audit.OK})
	if l.Dropped() != 1 {
		t.Fatalf("dropped after close = %d, want 1", l.Dropped())
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	var nilLog *audit.Log
	nilLog.Record(bg, audit.Event{})
	if nilLog.Close() != nil || nilLog.Flush(bg) != nil {
		t.Fatal("nil Log")
	}
}

// Concurrent recorders lose nothing while the queue keeps up (run with
// -race).
func TestConcurrentRecord(t *testing.T) {
	var buf syncBuffer
	l := audit.New(&buf, audit.WithQueueSize(100_000))
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				l.Record(bg, audit.Event{Kind: audit.Place, Outcome: audit.OK, EpochAfter: uint64(g*1000 + i + 1)})
			}
		}()
	}
	wg.Wait()
	_ = l.Close()
	seen := map[float64]bool{}
	for _, m := range buf.lines(t) {
		seen[m["epoch_after"].(float64)] = true
	}
	if len(seen) != 4000 {
		t.Fatalf("%d distinct events, want 4000", len(seen))
	}
}

// The file sink creates the file 0600, writes lines to it, rotates it with
// lumberjack (max_size_mb), and refuses a path it cannot create, naming
// the key.
func TestFileSink(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "audit.log")
	l, err := audit.Open(&config.AuditConfig{Sink: "file", Path: path, MaxSizeMB: 1, MaxBackups: 2})
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("stat %s: %v, %v", path, st, err)
	}
	// ~1.5 MB of events: one rotation.
	long := strings.Repeat("x", 1000)
	for range 1500 {
		l.Record(bg, audit.Event{Kind: audit.Place, Outcome: audit.OK, Reference: long})
		if l.Dropped() > 0 {
			t.Fatal("dropped")
		}
		_ = l.Flush(bg)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "sub", "audit*.log"))
	if len(files) != 2 {
		t.Fatalf("files after 1.5 MB with max_size_mb = 1: %v, want the log and one rotated file", files)
	}
	total := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		total += len(parseLines(t, string(b)))
	}
	if total != 1500 {
		t.Fatalf("%d lines in %v, want 1500", total, files)
	}

	if err := os.WriteFile(filepath.Join(dir, "plain"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = audit.Open(&config.AuditConfig{Sink: "file", Path: filepath.Join(dir, "plain", "audit.log")})
	if err == nil || !strings.Contains(err.Error(), "server.audit.path") {
		t.Fatalf("unwritable path: %v, want an error naming server.audit.path", err)
	}
	if l, err := audit.Open(&config.AuditConfig{Sink: "off"}); l != nil || err != nil {
		t.Fatalf("off: %v, %v", l, err)
	}
}

// OutcomeOf tells the caller's refusals from the server's failures.
func TestOutcomeOf(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want audit.Outcome
		code string
	}{
		{nil, audit.OK, ""},
		{status.Error(codes.FailedPrecondition, "token"), audit.Refused, "FailedPrecondition"},
		{status.Error(codes.AlreadyExists, "x"), audit.Refused, "AlreadyExists"},
		{status.Error(codes.Unavailable, "x"), audit.Failed, "Unavailable"},
		{context.DeadlineExceeded, audit.Failed, "DeadlineExceeded"},
		{errors.New("boom"), audit.Failed, "Unknown"},
	} {
		o, code, _ := audit.OutcomeOf(tc.err)
		if o != tc.want || code != tc.code {
			t.Errorf("%v: %s %s, want %s %s", tc.err, o, code, tc.want, tc.code)
		}
	}
}
