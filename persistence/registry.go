package persistence

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/orbit-go/orbit/clock"
	"github.com/orbit-go/orbit/persistence/config"
	"github.com/orbit-go/orbit/persistence/driver"
	"github.com/prometheus/client_golang/prometheus"
)

// DriverEnv is what a driver factory may use besides its configuration.
type DriverEnv struct {
	// Name is the provider's name in the configuration.
	Name   string
	Logger *slog.Logger
	Clock  clock.Clock
	// CheckOnly asks the driver to write nothing that a running server owns
	// (see WithCheckOnly).
	CheckOnly bool
	// Registerer is where a driver may register its own Prometheus
	// collectors (nil: none); see WithMetricsRegisterer.
	Registerer prometheus.Registerer
	// Events reports what the provider does on its own (never nil; it must
	// not be called with locks a request may wait on for long: it does not
	// block, but may take a lock of its own).
	Events func(ProviderEvent)
	// OpenNested opens the raw driver of a nested provider configuration
	// (the Composite provider's primary and backup).
	OpenNested func(ctx context.Context, name string, cfg config.ProviderConfig) (driver.Store, error)
}

// DriverFactory opens the driver of one provider type. cfg has the type the
// factory was registered for (a pointer such as *config.MemoryConfig) and
// has been validated.
type DriverFactory func(ctx context.Context, cfg config.ProviderConfig, env DriverEnv) (driver.Store, error)

var (
	driversMu sync.RWMutex
	drivers   = map[config.ProviderType]DriverFactory{}
)

// RegisterDriver makes a provider type available, database/sql style: a
// backend package calls it from init, and a binary blank-imports the
// backends it ships. It panics if f is nil or t is registered twice.
func RegisterDriver(t config.ProviderType, f DriverFactory) {
	driversMu.Lock()
	defer driversMu.Unlock()
	if f == nil {
		panic("persistence: RegisterDriver factory is nil for " + string(t))
	}
	if _, dup := drivers[t]; dup {
		panic("persistence: RegisterDriver called twice for " + string(t))
	}
	drivers[t] = f
}

// RegisteredTypes lists the provider types whose driver is compiled into
// this binary, sorted.
func RegisteredTypes() []config.ProviderType {
	driversMu.RLock()
	defer driversMu.RUnlock()
	return slices.Sorted(maps.Keys(drivers))
}

func typeList(ts []config.ProviderType) string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = string(t)
	}
	return strings.Join(s, ", ")
}

// OpenStore opens the raw driver.Store for cfg (no lease logic, no
// metrics). The error for a known type without a compiled driver Is
// ErrNotAvailableInBuild.
func OpenStore(ctx context.Context, name string, cfg config.ProviderConfig, opts ...Option) (driver.Store, error) {
	o := buildOptions(opts)
	return openStore(ctx, name, cfg, &o)
}

func openStore(ctx context.Context, name string, cfg config.ProviderConfig, o *options) (driver.Store, error) {
	if cfg == nil {
		return nil, fmt.Errorf("provider %q: no configuration: %w", name, ErrInvalidArgument)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("provider %q: %w", name, err)
	}
	t := cfg.ProviderType()
	driversMu.RLock()
	f, ok := drivers[t]
	driversMu.RUnlock()
	if !ok {
		if slices.Contains(config.Types(), t) {
			return nil, fmt.Errorf("provider %q: type %q (compiled in: %s): %w", name, t, typeList(RegisteredTypes()), ErrNotAvailableInBuild)
		}
		return nil, fmt.Errorf("provider %q: unknown type %q (known types: %s): %w", name, t, typeList(config.Types()), ErrInvalidArgument)
	}
	env := DriverEnv{
		Name: name, Logger: o.logger.With("provider", name, "type", string(t)), Clock: o.clock, CheckOnly: o.checkOnly,
		Registerer: o.registerer,
		Events:     providerEvents(o.events, name),
		OpenNested: func(ctx context.Context, nested string, c config.ProviderConfig) (driver.Store, error) {
			return openStore(ctx, nested, c, o)
		},
	}
	s, err := f(ctx, cfg, env)
	if err != nil {
		return nil, fmt.Errorf("open provider %q (%s): %w", name, t, err)
	}
	return s, nil
}

// Open opens one provider from its configuration and runs Init.
func Open(ctx context.Context, name string, cfg config.ProviderConfig, opts ...Option) (Provider, error) {
	o := buildOptions(opts)
	s, err := openStore(ctx, name, cfg, &o)
	if err != nil {
		return nil, err
	}
	p := NewProvider(name, string(cfg.ProviderType()), s, opts...)
	if err := p.Init(ctx); err != nil {
		_ = p.Close(ctx)
		return nil, err
	}
	return p, nil
}

// Registry holds named providers and the defaults for the two directories.
// It is safe for concurrent use.
type Registry struct {
	mu                 sync.RWMutex
	providers          map[string]Provider
	addressableDefault string
	clusterDefault     string
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{providers: map[string]Provider{}} }

// Register adds p under name; a duplicate name is an error.
func (r *Registry) Register(name string, p Provider) error {
	if name == "" || p == nil {
		return fmt.Errorf("registry: provider name and provider must be set: %w", ErrInvalidArgument)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.providers[name]; dup {
		return fmt.Errorf("registry: provider %q is already registered: %w", name, ErrInvalidArgument)
	}
	r.providers[name] = p
	return nil
}

// SetDefaults names the default providers for addressables and cluster nodes.
func (r *Registry) SetDefaults(addressable, cluster string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, n := range []string{addressable, cluster} {
		if _, ok := r.providers[n]; !ok {
			return r.unknownLocked(n)
		}
	}
	r.addressableDefault, r.clusterDefault = addressable, cluster
	return nil
}

func (r *Registry) unknownLocked(name string) error {
	return fmt.Errorf("registry: no provider named %q (registered: %s): %w", name, strings.Join(r.namesLocked(), ", "), ErrNotFound)
}

func (r *Registry) namesLocked() []string {
	return slices.Sorted(maps.Keys(r.providers))
}

// Names lists the registered provider names, sorted.
func (r *Registry) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.namesLocked()
}

// Provider returns the provider registered under name; the error for an
// unknown name lists the registered ones.
func (r *Registry) Provider(name string) (Provider, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	p, ok := r.providers[name]
	if !ok {
		return nil, r.unknownLocked(name)
	}
	return p, nil
}

// AddressableProvider returns the provider named name, to use for
// addressables (the specification's get_addressable_provider): like
// DefaultAddressableProvider, a Provider, whose Addressables() is the
// directory. It is Provider(name) under the specification's name.
func (r *Registry) AddressableProvider(name string) (Provider, error) { return r.Provider(name) }

// ClusterProvider returns the provider named name, to use for cluster
// nodes (the specification's get_cluster_provider); see AddressableProvider.
func (r *Registry) ClusterProvider(name string) (Provider, error) { return r.Provider(name) }

// DefaultAddressableProvider returns the default provider for addressables.
func (r *Registry) DefaultAddressableProvider() (Provider, error) {
	r.mu.RLock()
	name := r.addressableDefault
	r.mu.RUnlock()
	if name == "" {
		return nil, fmt.Errorf("registry: no default addressable provider set: %w", ErrNotFound)
	}
	return r.Provider(name)
}

// DefaultClusterProvider returns the default provider for cluster nodes.
func (r *Registry) DefaultClusterProvider() (Provider, error) {
	r.mu.RLock()
	name := r.clusterDefault
	r.mu.RUnlock()
	if name == "" {
		return nil, fmt.Errorf("registry: no default cluster provider set: %w", ErrNotFound)
	}
	return r.Provider(name)
}

// Defaults returns the names of the default providers.
func (r *Registry) Defaults() (addressable, cluster string) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.addressableDefault, r.clusterDefault
}

// Close closes every provider and joins their errors.
func (r *Registry) Close(ctx context.Context) error {
	r.mu.Lock()
	ps := r.providers
	r.providers = map[string]Provider{}
	r.mu.Unlock()
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(ps)) {
		if err := ps[name].Close(ctx); err != nil && !errors.Is(err, ErrClosed) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// OpenRegistry opens every provider of cfg (each validated, opened and
// initialised; on any failure the ones already opened are closed) and sets
// the defaults.
func OpenRegistry(ctx context.Context, cfg *config.Config, opts ...Option) (*Registry, error) {
	if cfg == nil {
		return nil, fmt.Errorf("open registry: no configuration: %w", ErrInvalidArgument)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := NewRegistry()
	for _, name := range slices.Sorted(maps.Keys(cfg.Providers)) {
		p, err := Open(ctx, name, cfg.Providers[name], opts...)
		if err != nil {
			_ = r.Close(ctx)
			return nil, err
		}
		if err := r.Register(name, p); err != nil {
			_ = p.Close(ctx)
			_ = r.Close(ctx)
			return nil, err
		}
	}
	if err := r.SetDefaults(cfg.Defaults.Addressable, cfg.Defaults.Cluster); err != nil {
		_ = r.Close(ctx)
		return nil, fmt.Errorf("open registry: defaults: %w", err)
	}
	return r, nil
}

// ProviderEvent is something a provider did on its own, reported through
// WithProviderEvents.
type ProviderEvent struct {
	// Provider is the provider's name in the configuration.
	Provider string
	// Kind is "failover" (a composite provider switched to its backup) or
	// "failback" (back to its primary).
	Kind string
	// From and To name the sides (their provider names).
	From, To string
	// Reason says why, in words.
	Reason string
	// Generation counts the provider's switches.
	Generation uint64
}

// providerEvents is f with the provider's name filled in, or a no-op.
func providerEvents(f func(ProviderEvent), name string) func(ProviderEvent) {
	if f == nil {
		return func(ProviderEvent) {}
	}
	return func(e ProviderEvent) {
		if e.Provider == "" {
			e.Provider = name
		}
		f(e)
	}
}
