package persistence

import (
	"log/slog"
	"time"

	"github.com/orbit-go/orbit/clock"
	"github.com/orbit-go/orbit/internal/cas"
	"github.com/orbit-go/orbit/persistence/decorate"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
)

// Defaults of the lease logic.
const (
	// DefaultEpochGrace is how long a released or expired lease record is
	// kept (invisible) before cleanup deletes it. While it is kept, the next
	// placement continues its epoch sequence; after it is deleted, the next
	// epoch starts from the placement time in microseconds, which is larger
	// than any earlier epoch as long as clocks agree within the grace.
	DefaultEpochGrace = time.Minute
	// DefaultIndexGrace is how old a per-node index entry whose placement
	// never completed must be before cleanup deletes it.
	DefaultIndexGrace = 5 * time.Minute
	// DefaultCASRetries bounds the read-compare-write retries of one call
	// that keeps losing races to writers of the same key.
	DefaultCASRetries = 64
	// DefaultBulkConcurrency bounds the parallel requests of bulk operations.
	DefaultBulkConcurrency = 16
	// DefaultHealthTimeout bounds a health probe.
	DefaultHealthTimeout = 5 * time.Second
)

// options configure a provider built by NewProvider.
type options struct {
	clock           clock.Clock
	epochGrace      time.Duration
	indexGrace      time.Duration
	cas             cas.Policy // the compare-and-swap loops: DefaultCASRetries attempts, cas.DefaultBackoff
	bulkConcurrency int
	healthTimeout   time.Duration
	registerer      prometheus.Registerer
	exporter        *decorate.Exporter
	logger          *slog.Logger
	checkOnly       bool
	events          func(ProviderEvent)
	tracer          trace.TracerProvider // nil: no spans (WithTracerProvider)
}

func defaultOptions() options {
	return options{
		clock:           clock.System{},
		epochGrace:      DefaultEpochGrace,
		indexGrace:      DefaultIndexGrace,
		cas:             cas.Policy{Attempts: DefaultCASRetries, Backoff: cas.DefaultBackoff},
		bulkConcurrency: DefaultBulkConcurrency,
		healthTimeout:   DefaultHealthTimeout,
		logger:          slog.New(slog.DiscardHandler),
	}
}

// Option configures a provider (NewProvider, Open, OpenRegistry).
type Option func(*options)

// WithClock sets the time source used to judge expiry (default: the system clock).
func WithClock(c clock.Clock) Option { return func(o *options) { o.clock = c } }

// WithEpochGrace sets how long released/expired lease records are kept; see DefaultEpochGrace.
func WithEpochGrace(d time.Duration) Option { return func(o *options) { o.epochGrace = d } }

// WithIndexGrace sets the age after which an orphan index entry is removed; see DefaultIndexGrace.
func WithIndexGrace(d time.Duration) Option { return func(o *options) { o.indexGrace = d } }

// WithBulkConcurrency bounds the parallel requests of bulk operations.
func WithBulkConcurrency(n int) Option { return func(o *options) { o.bulkConcurrency = n } }

// WithMetricsRegisterer exports the providers' metrics to r (never to the
// global registry unless the caller passes it), through one
// decorate.Exporter made for this option: pass the same option value to
// every provider that may be opened again under a name another one held
// (OpenRegistry does), so that the newer one takes the name's counter over.
// Drivers may register their own collectors on r too (DriverEnv.Registerer).
func WithMetricsRegisterer(r prometheus.Registerer) Option {
	e := decorate.NewExporter(r)
	return func(o *options) { o.registerer, o.exporter = r, e }
}

// WithLogger sets the logger for provider events (default: discard).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithProviderEvents calls f for the events a provider reports on its own
// (a composite provider switching sides). f must not block: it runs where
// the provider decides.
func WithProviderEvents(f func(ProviderEvent)) Option { return func(o *options) { o.events = f } }

// WithCheckOnly opens providers for inspection only (orbit-server check):
// drivers must not write anything on open or close that a running server
// owns, such as the memory provider's disk backup.
func WithCheckOnly() Option { return func(o *options) { o.checkOnly = true } }

// WithHealthTimeout bounds each health probe.
func WithHealthTimeout(d time.Duration) Option { return func(o *options) { o.healthTimeout = d } }

func buildOptions(opts []Option) options {
	o := defaultOptions()
	for _, f := range opts {
		f(&o)
	}
	if o.epochGrace <= 0 {
		o.epochGrace = DefaultEpochGrace
	}
	if o.indexGrace <= 0 {
		o.indexGrace = DefaultIndexGrace
	}
	if o.bulkConcurrency <= 0 {
		o.bulkConcurrency = DefaultBulkConcurrency
	}
	if o.healthTimeout <= 0 {
		o.healthTimeout = DefaultHealthTimeout
	}
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}
	return o
}
