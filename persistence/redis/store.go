// Package redis is Orbit's Redis storage backend, built on
// github.com/redis/rueidis (chosen over go-redis by measurement: see
// docs/redis.md). It works with a standalone Redis server and with Redis
// Cluster.
//
// The driver keeps, per shard, records as strings and sorted sets (the key
// order, one per index label, and the expiry buckets), all under one
// hash tag "{<prefix>.<shard>}", so that every operation is one Lua script on
// one node. The scripts (scripts.go) implement the contract of package
// driver:
//
//   - conditional writes compare the record's version inside the script, so
//     of any number of racing writers exactly one wins; versions are
//     "<creation>.<updates>", the creation taken from a per-shard counter,
//     so they never repeat for a key;
//   - List and ListIndex (driver.Indexer) are ordered BYLEX range reads of
//     the sorted sets, merged over the shards;
//   - native expiry (driver.Expirer) is SET ... PXAT; the same scripts remove
//     expired keys from the sorted sets, and lists skip them until then;
//   - Txn (driver.Transactional) is one script over keys of one shard: it is
//     offered when the store has a single shard (the default without
//     cluster mode);
//   - ApplyMany/GetMany (driver.Batcher) send one script per shard and chunk
//     for bulk operations;
//   - HealthCheck (driver.HealthChecker) pings every node.
//
// Errors wrap the portable sentinels of package driver; they name the server
// address and the key, never a password.
//
// Importing the package registers the provider type "Redis".
package redis

// This file holds the store's lifecycle: Options and their defaults, Open,
// Close, and the shard and key helpers.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"

	"github.com/orbit-go/orbit/persistence/driver"
)

// Defaults of Options.
const (
	DefaultPrefix       = "orbit"
	DefaultClusterShard = 16
	DefaultListLimit    = 1000
	DefaultMaxTxnOps    = 1000
	DefaultRetryCount   = 3
	// purgePerWrite bounds the expired index entries a delete removes (a
	// creation in 16 removes 16 times as many).
	purgePerWrite = 16
)

// Options configure a Store. Zero values mean the defaults.
type Options struct {
	// Client is the rueidis client option: addresses, credentials, TLS,
	// database, dialer. OptionsFromConfig fills it from a URL.
	Client rueidis.ClientOption
	// Addr names the server in errors and logs (never with credentials).
	Addr string
	// Cluster selects Redis Cluster (the client discovers the nodes).
	Cluster bool
	// Prefix starts every Redis key (default "orbit"); it must not contain
	// '{' or '}'.
	Prefix string
	// Shards is how many hash tags the keys are spread over (default 1, or
	// 16 with Cluster). Transactions need a single shard.
	Shards int
	// RetryCount is how many times a request is resent after a connection
	// error, with exponential backoff from 50 ms (default 3; -1 = never).
	// Writes are resent only where the script can recognize its own earlier
	// success (see resend); a transaction whose reply was lost returns
	// ErrUnavailable.
	RetryCount int
	// RequestTimeout bounds the wait for every reply: it is the client's
	// connection read/write timeout (rueidis ConnWriteTimeout), after which
	// the connection is closed and its requests fail with ErrUnavailable.
	// 0 keeps the client's default (10 s). No timer is armed per request.
	RequestTimeout time.Duration
}

// Store is a driver.Store on Redis. See the package documentation.
type Store struct {
	client  rueidis.Client
	addr    string
	cluster bool
	tags    []string // hash tag per shard
	orders  []string // order index per shard
	counts  []string // version counter per shard
	exps    []string // expiry index per shard
	retries int
	wires   int // pipelined connections per node
	closed  atomic.Bool
	// opPrefix and opSeq make operation ids (see opID).
	opPrefix string
	opSeq    atomic.Uint64
}

// Open connects to Redis and returns the store: a driver.Transactional one
// when it has a single shard. It fails with ErrUnavailable when the server
// cannot be reached and with ErrInvalidArgument for bad options.
func Open(ctx context.Context, o Options) (driver.Store, error) {
	s, err := open(ctx, o)
	if err != nil {
		return nil, err
	}
	if len(s.tags) == 1 {
		return txnStore{s}, nil
	}
	return s, nil
}

func open(ctx context.Context, o Options) (*Store, error) {
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if strings.ContainsAny(o.Prefix, "{}") {
		return nil, fmt.Errorf("redis: prefix %q must not contain '{' or '}' (they delimit Redis Cluster hash tags): %w", o.Prefix, driver.ErrInvalidArgument)
	}
	if o.Shards == 0 {
		o.Shards = 1
		if o.Cluster {
			o.Shards = DefaultClusterShard
		}
	}
	if o.Shards < 0 || o.Shards > 1024 {
		return nil, fmt.Errorf("redis: shards %d must be between 1 and 1024: %w", o.Shards, driver.ErrInvalidArgument)
	}
	if o.RetryCount == 0 {
		o.RetryCount = DefaultRetryCount
	}
	if o.RetryCount < 0 {
		o.RetryCount = 0
	}
	if o.Addr == "" && len(o.Client.InitAddress) > 0 {
		o.Addr = strings.Join(o.Client.InitAddress, ",")
	}
	co := o.Client
	co.DisableCache = true
	co.DisableRetry = true // resent here: see retry and resend
	co.ForceSingleClient = !o.Cluster
	if o.RequestTimeout > 0 {
		co.ConnWriteTimeout = o.RequestTimeout
	}
	client, err := rueidis.NewClient(co)
	if err != nil {
		return nil, fmt.Errorf("redis %s: connect: %s: %w", o.Addr, redactErr(err, co.Password), classify(err))
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	wires := co.PipelineMultiplex
	if wires == 0 && !o.Cluster {
		wires = 2 // rueidis's default for a single node
	}
	s := &Store{client: client, addr: o.Addr, cluster: o.Cluster, retries: o.RetryCount, wires: 1 << wires,
		opPrefix: hex.EncodeToString(rnd[:]) + "-"}
	for i := range o.Shards {
		tag := "{" + o.Prefix + "." + strconv.Itoa(i) + "}"
		s.tags = append(s.tags, tag)
		s.orders = append(s.orders, tag+":k")
		s.counts = append(s.counts, tag+":v")
		s.exps = append(s.exps, tag+":e")
	}
	if o.Cluster {
		if err := s.checkCluster(ctx); err != nil {
			client.Close()
			return nil, err
		}
	}
	return s, nil
}

// checkCluster fails clearly when cluster mode is asked of a server that is
// not a cluster (rueidis would silently use it as a single node).
func (s *Store) checkCluster(ctx context.Context) error {
	info, err := s.client.Do(ctx, s.client.B().ClusterInfo().Build()).ToString()
	if err != nil {
		if strings.Contains(err.Error(), "cluster support disabled") {
			return fmt.Errorf("redis %s: cluster_mode is set but the server is not a Redis Cluster (cluster support disabled): %w", s.addr, driver.ErrInvalidArgument)
		}
		return s.wrap("cluster info", "", err)
	}
	if !strings.Contains(info, "cluster_state:ok") {
		return fmt.Errorf("redis %s: cluster state is not ok: %w", s.addr, driver.ErrUnavailable)
	}
	return nil
}

func (s *Store) checkOpen() error {
	if s.closed.Load() {
		return fmt.Errorf("redis %s: %w", s.addr, driver.ErrClosed)
	}
	return nil
}

// shard returns the shard index of a driver key.
func (s *Store) shard(key string) int {
	if len(s.tags) == 1 {
		return 0
	}
	// FNV-1a, 32 bits, without allocating.
	h := uint32(2166136261)
	for i := 0; i < len(key); i++ {
		h = (h ^ uint32(key[i])) * 16777619
	}
	return int(h % uint32(len(s.tags)))
}

func (s *Store) recordKey(sh int, key string) string { return s.tags[sh] + ":r:" + key }

// Close closes the client. Calls after Close return ErrClosed.
func (s *Store) Close(context.Context) error {
	if s.closed.Swap(true) {
		return fmt.Errorf("redis %s: close: %w", s.addr, driver.ErrClosed)
	}
	s.client.Close()
	return nil
}

// ExpiresEntries marks the driver.Expirer capability: records are written
// with PXAT.
func (s *Store) ExpiresEntries() {}
