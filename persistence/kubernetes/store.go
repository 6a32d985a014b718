// Package kubernetes is Orbit's Kubernetes storage backend: the driver
// contract of package driver over ConfigMaps of one namespace, through the
// API server (k8s.io/client-go).
//
// # Layout
//
// The keys are hashed (FNV-1a) over Options.Shards ConfigMaps named
// <name>-000, <name>-001, ... (Options.Name is the configuration's
// config_map_name), created on first write and never deleted by the driver.
// Each carries the labels app.kubernetes.io/managed-by=orbit and
// orbit.io/store=<name>, and the annotations orbit.io/shards (the shard
// count, checked on every read so that servers configured differently fail
// instead of losing keys) and orbit.io/seq (the shard's write counter).
// One driver key is one binaryData entry: its data key is "k" plus the
// unpadded base64url of the key, or "h" plus the hex SHA-256 of keys too long
// for a ConfigMap key (the key itself is then kept in the value). The entry
// holds a format byte, the entry's version and the value.
//
// # Versions and compare-and-swap
//
// A key's version is the value of the shard's counter when the key was last
// written: every write of a shard increments it, so a key's version changes
// on every write and a deleted and re-created key never gets an old version
// back. A new shard's counter starts at the current time in microseconds,
// so that even a shard deleted by hand and re-created does not repeat
// versions. A conditional write checks the key's condition against the
// shard and replaces the shard with an Update carrying the shard's
// resourceVersion: the API server applies it only if nobody wrote the
// shard in between, and answers Conflict otherwise; the driver then reads
// the shard again and checks the key's condition again, so that writes of
// other keys of the same shard never surface as conflicts (bounded retries).
//
// Within one process, the writes of one shard are queued and applied in
// batches of one Update each (group commit): concurrent writers of one shard
// do not conflict with each other, and a burst costs one request per shard.
// The driver keeps the last shard object it read or wrote and writes on top
// of it without reading first; a condition that fails on that cached copy is
// checked again on a fresh read before ErrConflict is returned.
//
// Get reads the shard from the API server (a quorum read). List reads the
// metadata of every shard in one LIST (no data), reads again only the shards
// whose resourceVersion changed since the driver last saw them, and merges
// the keys of all shards in byte order.
//
// See docs/kubernetes.md for the sharding arithmetic, RBAC, health and
// limits. Importing the package registers the provider type "Kubernetes".
package kubernetes

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"

	"github.com/orbit-go/orbit/persistence/driver"
)

// Defaults of Options.
const (
	DefaultName           = "orbit-data"
	DefaultShards         = 256
	DefaultQPS            = 100
	DefaultBurst          = 200
	DefaultRequestTimeout = 30 * time.Second
	DefaultListLimit      = 1000
	// MaxShards is the most shards (names end in three digits).
	MaxShards = 1000
	// UserAgent is the User-Agent of every request.
	UserAgent = "orbit-server"
	// maxBatch bounds the writes of one Update.
	maxBatch = 256
	// maxAttempts bounds the Updates of one batch that the API server
	// refuses with Conflict (writers in other processes).
	maxAttempts = 40
)

// Labels and annotations of the shard ConfigMaps.
const (
	LabelManagedBy       = "app.kubernetes.io/managed-by"
	LabelStore           = "orbit.io/store"
	AnnotationShards     = "orbit.io/shards"
	AnnotationSeq        = "orbit.io/seq"
	managedByValue       = "orbit"
	configMapsResource   = "configmaps"
	maxConfigMapDataSize = 1 << 20 // the API server's limit on data + binaryData
)

var configMapsGVR = schema.GroupVersionResource{Version: "v1", Resource: configMapsResource}

// Options configure a Store. Zero values mean the defaults.
type Options struct {
	// Namespace holds the shard ConfigMaps (required).
	Namespace string
	// Name is the ConfigMaps' name prefix (default "orbit-data").
	Name string
	// Shards is how many ConfigMaps the keys are hashed over (default 256,
	// at most 1000). Every store sharing the data must use the same value.
	Shards int
	// RESTConfig, when set, is used as is (apart from the rate limit,
	// timeout and user agent below); otherwise InCluster or Kubeconfig
	// locate the cluster.
	RESTConfig *rest.Config
	// InCluster uses the pod's service account (rest.InClusterConfig).
	InCluster bool
	// Kubeconfig is the path of a kubeconfig file; empty means the client's
	// default lookup ($KUBECONFIG, then ~/.kube/config).
	Kubeconfig string
	// QPS and Burst are the client-side rate limit (default 100 and 200).
	QPS   float32
	Burst int
	// RequestTimeout bounds every API request (default 30 s; negative =
	// only the caller's deadline).
	RequestTimeout time.Duration
}

func (o *Options) withDefaults() {
	if o.Name == "" {
		o.Name = DefaultName
	}
	if o.Shards <= 0 {
		o.Shards = DefaultShards
	}
	if o.QPS <= 0 {
		o.QPS = DefaultQPS
	}
	if o.Burst <= 0 {
		o.Burst = DefaultBurst
	}
	if o.RequestTimeout == 0 {
		o.RequestTimeout = DefaultRequestTimeout
	}
}

// Store is the Kubernetes driver. It implements driver.Store and
// driver.HealthChecker, and is safe for concurrent use.
type Store struct {
	opts   Options
	client kubernetes.Interface
	meta   metadata.Interface
	cms    typedcorev1.ConfigMapInterface
	shards []*shard
	label  string // value of LabelStore
	where  string // "namespace N, configmaps NAME-*" for messages

	ctx    context.Context // cancelled by Close: ends batches in flight
	cancel context.CancelFunc
	closed atomic.Bool
	wg     sync.WaitGroup // batch goroutines handed off by writers
}

var (
	_ driver.Store         = (*Store)(nil)
	_ driver.HealthChecker = (*Store)(nil)
)

// Open builds the clients and returns the store. It sends no request: an
// unreachable API server or a missing permission shows in HealthCheck and
// in the errors of the first requests.
func Open(ctx context.Context, opts Options) (*Store, error) {
	opts.withDefaults()
	if opts.Namespace == "" {
		return nil, fmt.Errorf("kubernetes: namespace: must not be empty: %w", driver.ErrInvalidArgument)
	}
	if opts.Shards > MaxShards {
		return nil, fmt.Errorf("kubernetes: shards: must be at most %d, got %d: %w", MaxShards, opts.Shards, driver.ErrInvalidArgument)
	}
	cfg, err := restConfig(opts)
	if err != nil {
		return nil, err
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes: build client: %v: %w", err, driver.ErrInvalidArgument)
	}
	meta, err := metadata.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes: build metadata client: %v: %w", err, driver.ErrInvalidArgument)
	}
	s := &Store{
		opts:   opts,
		client: client,
		meta:   meta,
		cms:    client.CoreV1().ConfigMaps(opts.Namespace),
		label:  labelValue(opts.Name),
		where:  fmt.Sprintf("namespace %s, configmaps %s-*", opts.Namespace, opts.Name),
		shards: make([]*shard, opts.Shards),
	}
	for i := range s.shards {
		s.shards[i] = &shard{name: fmt.Sprintf("%s-%03d", opts.Name, i)}
	}
	s.ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	return s, nil
}

// Client returns the underlying clientset (for tools and tests).
func (s *Store) Client() kubernetes.Interface { return s.client }

// ShardNames returns the names of the shard ConfigMaps, in shard order.
func (s *Store) ShardNames() []string {
	out := make([]string, len(s.shards))
	for i, sh := range s.shards {
		out[i] = sh.name
	}
	return out
}

// ShardOf returns the name of the ConfigMap that holds key.
func (s *Store) ShardOf(key string) string { return s.shardFor(key).name }

func (s *Store) checkOpen() error {
	if s.closed.Load() {
		return fmt.Errorf("kubernetes store: %w", driver.ErrClosed)
	}
	return nil
}

// opCtx applies the request timeout to one request.
func (s *Store) opCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	if s.opts.RequestTimeout > 0 {
		return context.WithTimeout(ctx, s.opts.RequestTimeout)
	}
	return context.WithCancel(ctx)
}

// Get returns the entry for key or an error that Is driver.ErrNotFound. It
// reads the key's shard from the API server (never from a cache).
func (s *Store) Get(ctx context.Context, key string) (driver.Entry, error) {
	if err := s.checkOpen(); err != nil {
		return driver.Entry{}, err
	}
	sh := s.shardFor(key)
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	st, err := s.fetch(ctx, sh)
	if err != nil {
		return driver.Entry{}, s.wrap(err, "get", key)
	}
	v, val, ok, err := st.lookup(key)
	if err != nil {
		return driver.Entry{}, fmt.Errorf("kubernetes %s: key %q: %w", s.where, key, err)
	}
	if !ok {
		return driver.Entry{}, fmt.Errorf("kubernetes: key %q: %w", key, driver.ErrNotFound)
	}
	return driver.Entry{Key: key, Value: val, Version: driver.NumVersion(v)}, nil
}

// Put writes value under key if cond holds and returns the key's new version.
func (s *Store) Put(ctx context.Context, key string, value []byte, cond driver.Condition) (driver.Version, error) {
	if err := s.checkOpen(); err != nil {
		return driver.Version{}, err
	}
	if len(value)+len(key) > maxConfigMapDataSize {
		return driver.Version{}, fmt.Errorf("kubernetes: key %q: a value of %d bytes does not fit in a ConfigMap (1 MiB): %w",
			key, len(value), driver.ErrCapacity)
	}
	op := newWriteOp(key, value, false, cond)
	if err := s.write(ctx, op); err != nil {
		return driver.Version{}, err
	}
	return driver.NumVersion(op.ver), nil
}

// Delete removes key if cond holds. Deleting an absent key succeeds with
// driver.Always and driver.IfAbsent and is a conflict with IfVersion; an
// existing key and IfAbsent is a conflict.
func (s *Store) Delete(ctx context.Context, key string, cond driver.Condition) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	return s.write(ctx, newWriteOp(key, nil, true, cond))
}

// Close ends the batches in flight and makes every later call return
// driver.ErrClosed. The shard ConfigMaps stay: they are the shared data.
func (s *Store) Close(ctx context.Context) error {
	if s.closed.Swap(true) {
		return fmt.Errorf("kubernetes store: %w", driver.ErrClosed)
	}
	s.cancel()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
	return nil
}

// condHolds reports whether cond holds for a key that exists (with version
// cur) or not.
func condHolds(cond driver.Condition, exists bool, cur uint64) bool {
	switch cond.Kind {
	case driver.IfAbsent:
		return !exists
	case driver.IfVersion:
		return exists && cond.Version.Tag() == "" && cond.Version.Num() == cur
	}
	return true
}

func conflict(key string, cond driver.Condition) error {
	return fmt.Errorf("kubernetes: key %q: condition %s does not hold: %w", key, cond, driver.ErrConflict)
}

// newer reports whether resourceVersion a is newer than b. Resource
// versions are opaque; the API server's are decimal etcd revisions, and
// when either does not parse as one, a is taken as newer (a cached shard
// that is older than it could be only costs a retry).
func newer(a, b string) bool {
	na, okA := parseRV(a)
	nb, okB := parseRV(b)
	if !okA || !okB {
		return a != b
	}
	return na > nb
}

func parseRV(s string) (uint64, bool) {
	if s == "" || len(s) > 19 {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, true
}

// shardLabels are the labels of every shard ConfigMap.
func (s *Store) shardLabels() map[string]string {
	return map[string]string{LabelManagedBy: managedByValue, LabelStore: s.label}
}

// selector selects the shard ConfigMaps of this store.
func (s *Store) selector() string {
	return LabelManagedBy + "=" + managedByValue + "," + LabelStore + "=" + s.label
}

// newShardConfigMap returns the object that creates shard sh.
func (s *Store) newShardConfigMap(sh *shard) *corev1.ConfigMap {
	cm := &corev1.ConfigMap{}
	cm.Name = sh.name
	cm.Namespace = s.opts.Namespace
	cm.Labels = s.shardLabels()
	cm.Annotations = map[string]string{AnnotationShards: fmt.Sprint(len(s.shards))}
	return cm
}
