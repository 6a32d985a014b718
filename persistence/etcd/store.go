// Package etcd is Orbit's etcd storage backend, built on the official
// client go.etcd.io/etcd/client/v3.
//
// Every driver key is stored under "<prefix>/" (Options.Prefix, default
// "orbit"). The driver maps the contract of package driver onto etcd:
//
//   - versions are etcd mod_revisions; conditional writes are etcd
//     transactions comparing mod_revision (IfVersion) or create_revision == 0
//     (IfAbsent), so that of any number of racing writers exactly one wins;
//   - Txn (driver.Transactional) is one etcd transaction: every condition is
//     a comparison and every write is in the success branch, within the
//     server's --max-txn-ops (Options.MaxTxnOps, default 128);
//   - List is a paginated, ordered range read over [prefix, prefix end);
//   - native expiry (driver.Expirer) attaches entries to etcd leases shared
//     per TTL bucket, never one lease per write (see buckets.go);
//   - Watch (driver.Watcher) streams etcd watch events and resumes after a
//     disconnect from the last revision seen;
//   - HealthCheck (driver.HealthChecker) asks every endpoint for its status
//     and makes a linearizable read: Degraded when some endpoints are
//     unreachable, Unhealthy without a quorum.
//
// Errors wrap the portable sentinels of package driver; they name the
// endpoints and the key, never a password. docs/etcd.md documents the
// configuration, the key layout and the permissions the driver needs.
//
// Importing the package registers the provider type "Etcd".
package etcd

import (
	"context"
	"crypto/tls"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"

	"github.com/orbit-go/orbit/persistence/config"
	"github.com/orbit-go/orbit/persistence/driver"
)

// Defaults of Options.
const (
	DefaultPrefix          = "orbit"
	DefaultMaxTxnOps       = 128 // etcd's default --max-txn-ops
	DefaultListLimit       = 1000
	DefaultLeaseTTL        = 300 * time.Second
	MinBucketWidth         = 5 * time.Second
	DefaultMaxKeysPerLease = 100
	// DefaultReconnectMaxDelay caps gRPC's reconnection backoff, so that a
	// member that comes back is used again within seconds.
	DefaultReconnectMaxDelay = 3 * time.Second
)

// Options configure a Store. Zero values mean the defaults.
type Options struct {
	// Endpoints are the etcd client URLs (http://host:port, https://host:port)
	// or host:port pairs; at least one. All must use the same scheme.
	Endpoints []string
	// Prefix is prepended, with a "/", to every key (default "orbit"
	// when empty). A trailing "/" is ignored.
	Prefix string
	// NoPrefix stores keys at the root of the keyspace (Prefix is ignored);
	// the configuration's prefix = "" sets it.
	NoPrefix bool
	// Username and Password authenticate with etcd's auth (optional).
	Username, Password string
	// TLS enables TLS (and mTLS with client certificates). Endpoints must
	// then use https:// or no scheme.
	TLS *tls.Config
	// DialTimeout bounds establishing the connection and authenticating
	// (0 = no bound).
	DialTimeout time.Duration
	// RequestTimeout bounds every request (0 = only the caller's context).
	RequestTimeout time.Duration
	// LeaseTTL is the time scale of native expiry; BucketWidth defaults to
	// LeaseTTL/10 (default LeaseTTL 300 s).
	LeaseTTL time.Duration
	// BucketWidth is the width of a TTL bucket: an entry is deleted between
	// its ExpireAt and one bucket width (plus one second) later. Default
	// max(LeaseTTL/10, MinBucketWidth).
	BucketWidth time.Duration
	// MaxKeysPerLease caps how many writes this Store attaches to one etcd
	// lease before it grants another for the same bucket (negative = no
	// cap). When a user without etcd's root role puts a key with a lease,
	// etcd checks the user's write permission on every key already attached
	// to that lease, in its single apply loop: with one lease per bucket the
	// cost of a put would grow with the number of entries. The default is
	// therefore DefaultMaxKeysPerLease when Username is set and is not
	// "root", and no cap otherwise (auth disabled, or the root user, for
	// which etcd skips the check). Set it explicitly for a client
	// certificate identity without the root role.
	MaxKeysPerLease int
	// MaxTxnOps is the most operations of one Txn: the server's
	// --max-txn-ops (default 128).
	MaxTxnOps int
	// ReconnectMaxDelay caps the reconnection backoff to an endpoint
	// (default DefaultReconnectMaxDelay).
	ReconnectMaxDelay time.Duration
	// Logger receives the client's logs (default: none). The registered
	// factory forwards them to the provider's slog logger when that logger
	// has debug enabled.
	Logger *zap.Logger
}

func (o *Options) withDefaults() {
	if o.NoPrefix {
		o.Prefix = ""
	} else if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	o.Prefix = strings.TrimSuffix(o.Prefix, "/")
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = DefaultLeaseTTL
	}
	if o.BucketWidth <= 0 {
		o.BucketWidth = max(o.LeaseTTL/10, MinBucketWidth)
	}
	o.BucketWidth = o.BucketWidth.Truncate(time.Second)
	if o.BucketWidth < time.Second {
		o.BucketWidth = time.Second
	}
	if o.MaxKeysPerLease == 0 {
		o.MaxKeysPerLease = -1
		if o.Username != "" && o.Username != "root" {
			o.MaxKeysPerLease = DefaultMaxKeysPerLease
		}
	}
	if o.MaxTxnOps <= 0 {
		o.MaxTxnOps = DefaultMaxTxnOps
	}
	if o.ReconnectMaxDelay <= 0 {
		o.ReconnectMaxDelay = DefaultReconnectMaxDelay
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
}

// Store is the etcd driver. It implements driver.Store,
// driver.Transactional, driver.Watcher, driver.HealthChecker,
// driver.Expirer and driver.ExpiryLister. It is safe for concurrent use.
type Store struct {
	opts    Options
	client  *clientv3.Client
	pfx     string // opts.Prefix + "/", or ""
	eps     string // endpoints for error messages (no credentials)
	buckets buckets
	// expiries caches the leases' expiry for ListExpiring (expiry.go).
	expiries leaseExpiries

	ctx    context.Context // cancelled by Close: ends watches
	cancel context.CancelFunc
	closed atomic.Bool
	wg     sync.WaitGroup // watch goroutines
}

var (
	_ driver.Store         = (*Store)(nil)
	_ driver.Transactional = (*Store)(nil)
	_ driver.Watcher       = (*Store)(nil)
	_ driver.HealthChecker = (*Store)(nil)
	_ driver.Expirer       = (*Store)(nil)
	_ driver.ExpiryLister  = (*Store)(nil)
)

// Open creates the client and returns the store. It does not wait for the
// cluster: an unreachable cluster shows in HealthCheck and in the errors of
// the first requests. With a username it authenticates, within DialTimeout.
func Open(ctx context.Context, opts Options) (*Store, error) {
	endpoints, user, pass, err := endpointCredentials(opts.Endpoints, opts.Username, opts.Password)
	if err != nil {
		return nil, err
	}
	opts.Endpoints, opts.Username, opts.Password = endpoints, user, pass
	opts.withDefaults()
	if len(opts.Endpoints) == 0 {
		return nil, fmt.Errorf("etcd: endpoints: must list at least one endpoint: %w", driver.ErrInvalidArgument)
	}
	eps := redactEndpoints(opts.Endpoints)
	cfg := clientv3.Config{
		Endpoints:            opts.Endpoints,
		DialTimeout:          opts.DialTimeout,
		DialKeepAliveTime:    30 * time.Second,
		DialKeepAliveTimeout: 10 * time.Second,
		PermitWithoutStream:  true,
		Username:             opts.Username,
		Password:             opts.Password,
		TLS:                  opts.TLS,
		Logger:               opts.Logger,
		Context:              context.WithoutCancel(ctx),
		DialOptions: []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 200 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: opts.ReconnectMaxDelay},
			MinConnectTimeout: 5 * time.Second,
		})},
	}
	c, err := clientv3.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("etcd %s: connect: %w: %w", eps, err, classify(err))
	}
	return newStore(c, opts, eps), nil
}

func newStore(c *clientv3.Client, opts Options, eps string) *Store {
	s := &Store{opts: opts, client: c, eps: eps}
	if opts.Prefix != "" {
		s.pfx = opts.Prefix + "/"
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.buckets.init(s)
	return s
}

// redactEndpoints renders endpoints for messages, passwords redacted by
// position (config.RedactURL: a password holding '/' or '#' is hidden too).
func redactEndpoints(eps []string) string {
	out := make([]string, len(eps))
	for i, e := range eps {
		out[i] = config.RedactURL(e)
	}
	return "[" + strings.Join(out, " ") + "]"
}

// Client returns the underlying etcd client (for tools and tests).
func (s *Store) Client() *clientv3.Client { return s.client }

// Prefix returns the key prefix including its trailing "/" ("" for none).
func (s *Store) Prefix() string { return s.pfx }

func (s *Store) full(key string) string { return s.pfx + key }

// opCtx applies the request timeout to one request.
func (s *Store) opCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	if s.opts.RequestTimeout > 0 {
		return context.WithTimeout(ctx, s.opts.RequestTimeout)
	}
	return ctx, func() {}
}

func (s *Store) checkOpen() error {
	if s.closed.Load() {
		return fmt.Errorf("etcd store: %w", driver.ErrClosed)
	}
	return nil
}

// Get returns the entry for key or an error that Is driver.ErrNotFound.
// Reads are linearizable.
func (s *Store) Get(ctx context.Context, key string) (driver.Entry, error) {
	if err := s.checkOpen(); err != nil {
		return driver.Entry{}, err
	}
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	resp, err := s.client.Get(ctx, s.full(key))
	if err != nil {
		return driver.Entry{}, s.wrap("get", key, err)
	}
	if len(resp.Kvs) == 0 {
		return driver.Entry{}, fmt.Errorf("etcd: key %q: %w", key, driver.ErrNotFound)
	}
	kv := resp.Kvs[0]
	return driver.Entry{Key: key, Value: kv.Value, Version: driver.NumVersion(uint64(kv.ModRevision))}, nil
}

// Put writes value under key if cond holds.
func (s *Store) Put(ctx context.Context, key string, value []byte, cond driver.Condition) (driver.Version, error) {
	return s.PutWithOptions(ctx, key, value, cond, driver.PutOptions{})
}

// PutWithOptions is Put with a native-expiry deadline (driver.Expirer): with
// opts.ExpireAt set, the entry is attached to the etcd lease of its TTL
// bucket and deleted by etcd at the end of that bucket, never before
// ExpireAt. Without it, the entry never expires (and leaves any lease it
// was attached to). opts.Label is ignored (the driver has no index).
func (s *Store) PutWithOptions(ctx context.Context, key string, value []byte, cond driver.Condition, opts driver.PutOptions) (driver.Version, error) {
	if err := s.checkOpen(); err != nil {
		return driver.Version{}, err
	}
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	full := s.full(key)
	for attempt := 0; ; attempt++ {
		var putOpts []clientv3.OpOption
		var lease leaseRef
		if !opts.ExpireAt.IsZero() {
			var err error
			if lease, err = s.buckets.lease(ctx, opts.ExpireAt); err != nil {
				return driver.Version{}, s.wrap("put", key, err)
			}
			putOpts = append(putOpts, clientv3.WithLease(lease.id))
		}
		var rev int64
		var err error
		if cond.Kind == driver.Always {
			var resp *clientv3.PutResponse
			if resp, err = s.client.Put(ctx, full, string(value), putOpts...); err == nil {
				rev = resp.Header.Revision
			}
		} else {
			cmp, ok := compare(full, cond)
			if !ok {
				return driver.Version{}, conflict(key, cond)
			}
			var resp *clientv3.TxnResponse
			resp, err = s.client.Txn(ctx).If(cmp).Then(clientv3.OpPut(full, string(value), putOpts...)).Commit()
			if err == nil {
				if !resp.Succeeded {
					return driver.Version{}, conflict(key, cond)
				}
				rev = resp.Header.Revision
			}
		}
		if err != nil {
			if isLeaseNotFound(err) && attempt == 0 {
				s.buckets.forget(lease)
				continue // the bucket's lease expired under us: grant a new one
			}
			return driver.Version{}, s.wrap("put", key, err)
		}
		return driver.NumVersion(uint64(rev)), nil
	}
}

// ExpiresEntries marks the driver.Expirer capability.
func (s *Store) ExpiresEntries() {}

// Delete removes key if cond holds. Deleting an absent key succeeds with
// driver.Always and driver.IfAbsent and is a conflict with IfVersion.
func (s *Store) Delete(ctx context.Context, key string, cond driver.Condition) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	full := s.full(key)
	if cond.Kind == driver.Always {
		if _, err := s.client.Delete(ctx, full); err != nil {
			return s.wrap("delete", key, err)
		}
		return nil
	}
	cmp, ok := compare(full, cond)
	if !ok {
		return conflict(key, cond)
	}
	resp, err := s.client.Txn(ctx).If(cmp).Then(clientv3.OpDelete(full)).Commit()
	if err != nil {
		return s.wrap("delete", key, err)
	}
	if !resp.Succeeded {
		return conflict(key, cond)
	}
	return nil
}

// compare returns the etcd comparison for cond on the full key; ok is false
// when cond can never hold (a version that is not an etcd revision).
func compare(full string, cond driver.Condition) (clientv3.Cmp, bool) {
	switch cond.Kind {
	case driver.IfAbsent:
		return clientv3.Compare(clientv3.CreateRevision(full), "=", 0), true
	case driver.IfVersion:
		n := cond.Version.Num()
		if cond.Version.Tag() != "" || n == 0 || n > 1<<63-1 {
			return clientv3.Cmp{}, false
		}
		return clientv3.Compare(clientv3.ModRevision(full), "=", int64(n)), true
	}
	return clientv3.Cmp{}, false
}

func conflict(key string, cond driver.Condition) error {
	return fmt.Errorf("etcd: key %q: condition %s does not hold: %w", key, cond, driver.ErrConflict)
}

// List returns the entries whose keys start with prefix, in ascending key
// order, at most opts.Limit (default DefaultListLimit) per page, strictly
// after opts.StartAfter. One page is one linearizable range read.
func (s *Store) List(ctx context.Context, prefix string, opts driver.ListOptions) (driver.ListPage, error) {
	if err := s.checkOpen(); err != nil {
		return driver.ListPage{}, err
	}
	limit := opts.Limit
	if limit <= 0 {
		limit = DefaultListLimit
	}
	start := s.full(prefix)
	end := clientv3.GetPrefixRangeEnd(start)
	if start == "" {
		start, end = "\x00", "\x00" // the whole keyspace
	}
	if opts.StartAfter != "" && opts.StartAfter >= prefix {
		start = s.full(opts.StartAfter) + "\x00"
		if end != "\x00" && start >= end {
			return driver.ListPage{Entries: []driver.Entry{}}, nil
		}
	}
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	resp, err := s.client.Get(ctx, start, clientv3.WithRange(end), clientv3.WithLimit(int64(limit)))
	if err != nil {
		return driver.ListPage{}, s.wrap("list", prefix, err)
	}
	page := driver.ListPage{Entries: make([]driver.Entry, len(resp.Kvs)), More: resp.More}
	for i, kv := range resp.Kvs {
		page.Entries[i] = driver.Entry{Key: string(kv.Key[len(s.pfx):]), Value: kv.Value,
			Version: driver.NumVersion(uint64(kv.ModRevision))}
	}
	return page, nil
}

// Close ends every watch and closes the client; calls after Close return
// driver.ErrClosed. The etcd leases of the TTL buckets are not revoked: the
// entries attached to them belong to the shared directory, and the leases
// expire on their own at the end of their buckets.
func (s *Store) Close(ctx context.Context) error {
	if s.closed.Swap(true) {
		return fmt.Errorf("etcd store: %w", driver.ErrClosed)
	}
	s.cancel()
	s.wg.Wait()
	if err := s.client.Close(); err != nil && ctx.Err() == nil && !isCanceled(err) {
		return fmt.Errorf("etcd %s: close client: %w", s.eps, classify(err))
	}
	return nil
}
