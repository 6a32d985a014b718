package persistence

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/orbit-go/orbit/persistence/decorate"
	"github.com/orbit-go/orbit/persistence/driver"
)

// kv is the decorated driver the directories talk to. store is the metrics
// decorator; the optional interfaces are set (to the same decorator) only
// where the decorated store, which has exactly the raw driver's
// capabilities, implements them.
type kv struct {
	raw   driver.Store
	store *decorate.Metrics
	txn   driver.Transactional
	watch driver.Watcher
	index driver.Indexer
	batch driver.Batcher
	// expiry is set when the backend deletes dead records natively; grace
	// is how long after expiry a record may be deleted (the epoch grace).
	expiry driver.OptionPutter
	// expiryList is set when the backend lists entries by their ExpireAt,
	// so that a sweep reads only what is due.
	expiryList driver.ExpiryLister
	grace      time.Duration
	caps       driver.Capabilities
}

// expireAt is when a record that expires at expires may be deleted
// natively, and the time an expiry index files it under: after the epoch
// grace, plus a margin for clock skew.
func (k *kv) expireAt(expires time.Time) time.Time {
	if k.expiry == nil && k.expiryList == nil {
		return time.Time{}
	}
	return expires.Add(k.grace + time.Minute)
}

// put writes one entry with the options the backend supports.
func (k *kv) put(ctx context.Context, key string, value []byte, cond driver.Condition, label string, expires time.Time) (driver.Version, error) {
	switch {
	case k.index != nil:
		return k.index.PutWithOptions(ctx, key, value, cond, driver.PutOptions{Label: label, ExpireAt: k.expireAt(expires)})
	case k.expiry != nil:
		return k.expiry.PutWithOptions(ctx, key, value, cond, driver.PutOptions{ExpireAt: k.expireAt(expires)})
	case k.expiryList != nil:
		return k.expiryList.PutWithOptions(ctx, key, value, cond, driver.PutOptions{ExpireAt: k.expireAt(expires)})
	default:
		return k.store.Put(ctx, key, value, cond)
	}
}

// provider implements Provider over one driver.
type provider struct {
	name, typ string
	kv        *kv
	opt       options
	measured  driver.Store // kv.store narrowed to the driver's capabilities
	addrs     *addressables
	nodes     *nodes

	closeOnce sync.Once
	closeErr  error
	mu        sync.RWMutex
	closed    bool
}

var _ Provider = (*provider)(nil)

// NewProvider builds a Provider over store, the driver of a backend. The
// lease logic, metrics and health checks are this package's; store only
// stores. Capabilities are discovered by type assertion on the
// metrics-decorated store, which has exactly store's (decorate.Narrow).
func NewProvider(name, typ string, store driver.Store, opts ...Option) Provider {
	o := buildOptions(opts)
	measured, m := decorate.Measure(store, name, typ, o.exporter)
	m.SetTracerProvider(o.tracer) // nil: no spans (the default)
	k := &kv{raw: store, store: m, caps: driver.CapabilitiesOf(measured), grace: o.epochGrace}
	// The lease logic calls the decorator directly (one dynamic call less
	// on every operation), for exactly the capabilities measured claims.
	if _, ok := measured.(driver.Transactional); ok {
		k.txn = m
	}
	if _, ok := measured.(driver.Watcher); ok {
		k.watch = m
	}
	if _, ok := measured.(driver.Indexer); ok {
		k.index = m
	}
	if _, ok := measured.(driver.Expirer); ok {
		k.expiry = m
	}
	if _, ok := measured.(driver.Batcher); ok {
		k.batch = m
	}
	if _, ok := measured.(driver.ExpiryLister); ok {
		k.expiryList = m
	}
	p := &provider{name: name, typ: typ, kv: k, opt: o, measured: measured}
	p.addrs = &addressables{kv: k, opt: &p.opt}
	if _, local := measured.(driver.InProcess); !local {
		p.addrs.cache = newVersionCache[leaseRecord](DefaultVersionCacheSize)
	}
	p.nodes = &nodes{kv: k, opt: &p.opt}
	if _, local := measured.(driver.InProcess); !local {
		p.nodes.cache = newVersionCache[NodeInfo](DefaultNodeCacheSize)
	}
	return p
}

func (p *provider) Name() string                       { return p.name }
func (p *provider) Type() string                       { return p.typ }
func (p *provider) Capabilities() driver.Capabilities  { return p.kv.caps }
func (p *provider) Addressables() AddressableDirectory { return p.addrs }
func (p *provider) Nodes() ClusterNodeDirectory        { return p.nodes }
func (p *provider) Metrics() MetricsSnapshot           { return p.kv.store.Snapshot() }

// StoreOf returns the raw driver.Store under a provider built by
// NewProvider (for tests and tools), or nil.
func StoreOf(p Provider) driver.Store {
	if pp, ok := p.(*provider); ok {
		return pp.kv.raw
	}
	return nil
}

func (p *provider) Init(ctx context.Context) error {
	h := p.HealthCheck(ctx)
	if h.Status == Unhealthy {
		return fmt.Errorf("provider %q (%s): %s: %w", p.name, p.typ, h.Reason, ErrUnavailable)
	}
	p.opt.logger.Info("persistence provider ready", "provider", p.name, "type", p.typ,
		"health", h.Status.String(), "capabilities", p.kv.caps.String())
	return nil
}

func (p *provider) Close(ctx context.Context) error {
	first := false
	p.closeOnce.Do(func() {
		first = true
		p.mu.Lock()
		p.closed = true
		p.mu.Unlock()
		p.closeErr = p.kv.raw.Close(ctx)
		p.kv.store.Unexport()
		if p.closeErr != nil {
			p.closeErr = fmt.Errorf("close provider %q: %w", p.name, p.closeErr)
		}
		p.opt.logger.Info("persistence provider closed", "provider", p.name, "type", p.typ, "error", p.closeErr)
	})
	if !first {
		return fmt.Errorf("provider %q: %w", p.name, ErrClosed)
	}
	return p.closeErr
}

// healthProbeKey is read by the default health probe; it never exists.
const healthProbeKey = "h/probe"

// HealthCheck asks the driver if it implements driver.HealthChecker, else
// probes with one read. A probe slower than half the health timeout is
// reported Degraded.
func (p *provider) HealthCheck(ctx context.Context) Health {
	p.mu.RLock()
	closed := p.closed
	p.mu.RUnlock()
	if closed {
		return Health{Status: Unhealthy, Reason: "provider is closed"}
	}
	ctx, cancel := context.WithTimeout(ctx, p.opt.healthTimeout)
	defer cancel()
	if hc, ok := p.measured.(driver.HealthChecker); ok {
		return hc.HealthCheck(ctx)
	}
	start := time.Now()
	_, err := p.kv.store.Get(ctx, healthProbeKey)
	took := time.Since(start)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Health{Status: Unhealthy, Reason: "probe read failed: " + err.Error()}
	}
	if took > p.opt.healthTimeout/2 {
		return Health{Status: Degraded, Reason: fmt.Sprintf("probe read took %s", took.Round(time.Millisecond))}
	}
	return Health{Status: Healthy}
}

func (p *provider) BeginTransaction(ctx context.Context) (Transaction, error) {
	if p.kv.txn == nil {
		return nil, fmt.Errorf("provider %q (%s) has no multi-key transactions: %w", p.name, p.typ, ErrUnsupported)
	}
	return newTransaction(p), nil
}
