package audit

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/orbit-go/orbit/clock"
	"github.com/orbit-go/orbit/server/auth"
	"github.com/prometheus/client_golang/prometheus"
)

// DefaultQueueSize is the number of events the queue holds when no size is
// given: at about 300 bytes an event, 2.5 MB at most.
const DefaultQueueSize = 8192

// batchDelay is how long the writer gathers events after the first of a
// batch before writing them: one write (and one wake-up of the writer) per
// batch, not per event, which is what keeps the audit log's cost on a
// busy server small. An event reaches the sink within about this delay.
const batchDelay = 10 * time.Millisecond

// maxBatch is the most bytes written in one Write (a rotated file must
// take a batch whole: lumberjack refuses a write larger than its maximum
// size, which is at least 1 MB).
const maxBatch = 64 << 10

// Log is the asynchronous Auditor: Record queues, one goroutine writes.
// A nil *Log records nothing. Register it on a Prometheus registry to
// export its counters (it is a prometheus.Collector).
type Log struct {
	clock  clock.Clock
	logger *slog.Logger
	w      io.Writer
	closer io.Closer // the file Open opened; nil for a writer given to New

	q     chan Event
	kick  chan struct{} // the queue is half full: write now
	flush chan chan struct{}
	stop  chan struct{}
	done  chan struct{}

	mu        sync.RWMutex // Record holds it for reading; Close for writing
	closed    bool
	closeOnce sync.Once
	closeErr  error

	written, dropped, writeErrors atomic.Uint64
	pendingDrops                  atomic.Int64 // dropped since the last line written
}

// Option configures a Log.
type Option func(*Log)

// WithQueueSize bounds the queue to n events (n < 1: DefaultQueueSize).
func WithQueueSize(n int) Option {
	return func(l *Log) {
		if n < 1 {
			n = DefaultQueueSize
		}
		l.q = make(chan Event, n)
	}
}

// WithClock sets the time source of events recorded without a Time.
func WithClock(c clock.Clock) Option { return func(l *Log) { l.clock = c } }

// WithLogger sets where write errors are reported (default slog.Default()).
func WithLogger(lg *slog.Logger) Option { return func(l *Log) { l.logger = lg } }

// New starts a Log writing JSON lines to w. The caller keeps ownership of
// w: Close flushes but does not close it.
func New(w io.Writer, opts ...Option) *Log {
	l := &Log{clock: clock.System{}, w: w, kick: make(chan struct{}, 1), flush: make(chan chan struct{}),
		stop: make(chan struct{}), done: make(chan struct{})}
	for _, o := range opts {
		o(l)
	}
	if l.q == nil {
		l.q = make(chan Event, DefaultQueueSize)
	}
	if l.logger == nil {
		l.logger = slog.Default()
	}
	go l.run()
	return l
}

// Record queues e without blocking: it sets Time from the clock when zero
// and Identity and Peer from ctx (auth.FromContext) when Identity is
// empty. When the queue is full, or the Log is closed, e is dropped and
// counted.
func (l *Log) Record(ctx context.Context, e Event) {
	if l == nil {
		return
	}
	if e.Time.IsZero() {
		e.Time = l.clock.Now()
	}
	if e.Identity == "" {
		id := auth.FromContext(ctx)
		e.Identity = id.String()
		if e.Peer == "" {
			e.Peer = id.Peer
		}
	}
	l.mu.RLock()
	if !l.closed {
		select {
		case l.q <- e:
			l.mu.RUnlock()
			if len(l.q) >= cap(l.q)/2 {
				select {
				case l.kick <- struct{}{}:
				default:
				}
			}
			return
		default:
		}
	}
	l.mu.RUnlock()
	l.dropped.Add(1)
	l.pendingDrops.Add(1)
}

// Flush returns once every event recorded before it was called has been
// handed to the writer (or ctx ended).
func (l *Log) Flush(ctx context.Context) error {
	if l == nil {
		return nil
	}
	ack := make(chan struct{})
	select {
	case l.flush <- ack:
	case <-l.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-ack:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops accepting events, writes those queued and closes the file
// Open opened. Events recorded after Close are dropped and counted. It is
// safe to call more than once.
func (l *Log) Close() error {
	if l == nil {
		return nil
	}
	l.closeOnce.Do(func() {
		l.mu.Lock()
		l.closed = true
		l.mu.Unlock()
		close(l.stop)
		<-l.done
		if l.closer != nil {
			l.closeErr = l.closer.Close()
		}
	})
	return l.closeErr
}

// run is the writer: woken by an event, it waits batchDelay (less if the
// queue fills to half, a Flush or Close comes), then encodes what is
// queued into buffers of at most maxBatch bytes, each written in one call.
func (l *Log) run() {
	defer close(l.done)
	buf := make([]byte, 0, maxBatch+4096)
	failing := false
	write := func() {
		if n := l.pendingDrops.Swap(0); n > 0 {
			buf = appendJSON(buf, &Event{Time: l.clock.Now(), Kind: Dropped, Outcome: Failed, Identity: "audit", Count: n})
		}
		if len(buf) == 0 {
			return
		}
		lines := uint64(0)
		for _, c := range buf {
			if c == '\n' {
				lines++
			}
		}
		if _, err := l.w.Write(buf); err != nil {
			l.writeErrors.Add(1)
			if !failing {
				l.logger.Error("audit log: write failed; events are being lost", "error", err)
			}
			failing = true
		} else {
			l.written.Add(lines)
			if failing {
				l.logger.Warn("audit log: writing again")
			}
			failing = false
		}
		buf = buf[:0]
	}
	// drain encodes what is queued now, writing each time a batch is full.
	drain := func() {
		for {
			select {
			case e := <-l.q:
				buf = appendJSON(buf, &e)
				if len(buf) >= maxBatch {
					write()
				}
			default:
				write()
				return
			}
		}
	}
	linger := time.NewTimer(batchDelay)
	linger.Stop()
	for {
		select {
		case e := <-l.q:
			buf = appendJSON(buf, &e)
			linger.Reset(batchDelay)
			select {
			case <-linger.C:
			case <-l.kick:
			case ack := <-l.flush:
				drain()
				close(ack)
			case <-l.stop:
				drain()
				return
			}
			linger.Stop()
			drain()
		case ack := <-l.flush:
			drain()
			close(ack)
		case <-l.stop:
			drain()
			return
		}
	}
}

var (
	descWritten = prometheus.NewDesc("orbit_server_audit_events_written_total",
		"Audit events written to the sink.", nil, nil)
	descDropped = prometheus.NewDesc("orbit_server_audit_events_dropped_total",
		"Audit events dropped because the queue was full (or the log closed); never blocks an RPC.", nil, nil)
	descWriteErrors = prometheus.NewDesc("orbit_server_audit_write_errors_total",
		"Failed writes to the audit sink (each loses the batch of events it carried).", nil, nil)
	descQueue = prometheus.NewDesc("orbit_server_audit_queue_length",
		"Audit events waiting to be written.", nil, nil)
	descCapacity = prometheus.NewDesc("orbit_server_audit_queue_capacity",
		"Size of the audit queue.", nil, nil)
)

// Describe implements prometheus.Collector.
func (l *Log) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descWritten, descDropped, descWriteErrors, descQueue, descCapacity} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (l *Log) Collect(ch chan<- prometheus.Metric) {
	if l == nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(descWritten, prometheus.CounterValue, float64(l.written.Load()))
	ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(l.dropped.Load()))
	ch <- prometheus.MustNewConstMetric(descWriteErrors, prometheus.CounterValue, float64(l.writeErrors.Load()))
	ch <- prometheus.MustNewConstMetric(descQueue, prometheus.GaugeValue, float64(len(l.q)))
	ch <- prometheus.MustNewConstMetric(descCapacity, prometheus.GaugeValue, float64(cap(l.q)))
}

// Dropped is the number of events dropped so far.
func (l *Log) Dropped() uint64 {
	if l == nil {
		return 0
	}
	return l.dropped.Load()
}
