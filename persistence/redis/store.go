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

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

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

// txnStore is a Store with a single shard: it adds Txn.
type txnStore struct{ *Store }

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

// decodeRecord splits "<version>:<operation id>:<bucket>:<label length>:<label><value>".
func decodeRecord(key, raw string) (ver, label, value string, err error) {
	rest := raw
	var fields [4]string
	for f := range fields {
		i := strings.IndexByte(rest, ':')
		if i < 0 {
			return "", "", "", errBadRecord{key}
		}
		fields[f], rest = rest[:i], rest[i+1:]
	}
	ll, err := strconv.Atoi(fields[3])
	if fields[0] == "" || err != nil || ll < 0 || ll > len(rest) {
		return "", "", "", errBadRecord{key}
	}
	return fields[0], rest[:ll], rest[ll:], nil
}

// bytesOf returns the bytes of s without copying them. The driver contract
// makes returned values immutable, and s belongs to the reply alone.
func bytesOf(s string) []byte {
	if s == "" {
		return []byte{}
	}
	return unsafe.Slice(unsafe.StringData(s), len(s))
}

// errBadRecord is the error of a record without a valid header; it is
// formatted only when reported.
type errBadRecord struct{ key string }

func (e errBadRecord) Error() string {
	return fmt.Sprintf("redis: record %q has no valid version header: %v", e.key, driver.ErrCorrupt)
}
func (e errBadRecord) Unwrap() error { return driver.ErrCorrupt }

// opID returns an identifier no other write of any store will use: a
// random prefix chosen at Open and a counter.
func (s *Store) opID() string {
	return s.opPrefix + strconv.FormatUint(s.opSeq.Add(1), 36)
}

// retry runs a request up to 1+retries times while it fails with a
// connection error, backing off 50 ms, 100 ms, ... (at most 1 s). A
// connection that broke (the server restarted) fails once per pipelined
// connection before the client redials it: those failures are resent at
// once and not counted, up to the number of connections.
func (s *Store) retry(ctx context.Context, fn func(context.Context) error) error {
	delay := 50 * time.Millisecond
	broken := 0
	for attempt := 0; ; attempt++ {
		err := fn(ctx)
		if err == nil || !retryable(err) || ctx.Err() != nil || s.closed.Load() {
			return err
		}
		if brokenConn(err) && broken < s.wires {
			broken++
			attempt--
			continue
		}
		if attempt >= s.retries {
			return err
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		delay = min(2*delay, time.Second)
	}
}

// resend runs a write like retry runs a read, but only when it can tell a
// resent write from a new one: not an atomic transaction (its conflict
// would be ambiguous); independent operations are resent in mode "r"
// (ARGV[2]), where each put recognizes its own operation id.
func (s *Store) resend(ctx context.Context, atomic bool, args []string, fn func(context.Context) error) error {
	if atomic {
		return fn(ctx)
	}
	first := true
	return s.retry(ctx, func(ctx context.Context) error {
		if !first {
			args[1] = "r"
		}
		first = false
		return fn(ctx)
	})
}

// Get returns the entry under key.
func (s *Store) Get(ctx context.Context, key string) (driver.Entry, error) {
	if err := s.checkOpen(); err != nil {
		return driver.Entry{}, err
	}
	rk := s.recordKey(s.shard(key), key)
	var raw string
	err := s.retry(ctx, func(ctx context.Context) error {
		var err error
		raw, err = s.client.Do(ctx, s.client.B().Get().Key(rk).Build()).ToString()
		return err
	})
	if rueidis.IsRedisNil(err) {
		return driver.Entry{}, fmt.Errorf("redis: get %q: %w", key, driver.ErrNotFound)
	}
	if err != nil {
		return driver.Entry{}, s.wrap("get", key, err)
	}
	ver, _, value, err := decodeRecord(key, raw)
	if err != nil {
		return driver.Entry{}, err
	}
	// The key may alias the caller's buffer and values are immutable
	// (driver contract): neither is copied.
	return driver.Entry{Key: key, Value: bytesOf(value), Version: driver.TagVersion(ver)}, nil
}

// Put writes value under key if cond holds.
func (s *Store) Put(ctx context.Context, key string, value []byte, cond driver.Condition) (driver.Version, error) {
	return s.PutWithOptions(ctx, key, value, cond, driver.PutOptions{})
}

// PutWithOptions is Put with an index label and a native deletion time.
func (s *Store) PutWithOptions(ctx context.Context, key string, value []byte, cond driver.Condition, opts driver.PutOptions) (driver.Version, error) {
	op := driver.Op{Kind: driver.OpPut, Key: key, Value: value, Cond: cond, Label: opts.Label, DeleteAfter: opts.DeleteAfter}
	opid, resent := "", false
	fast := s.update
	if cond.Kind == driver.IfAbsent {
		fast = s.create
	}
	if cond.Kind == driver.IfVersion || cond.Kind == driver.IfAbsent {
		if err := s.checkOpen(); err != nil {
			return driver.Version{}, err
		}
		ver, written, err := fast(ctx, op, &opid)
		switch {
		case written:
			return ver, nil
		case err != nil && !retryable(err):
			return driver.Version{}, s.wrap("put", key, err)
		case err != nil:
			// The reply was lost: the general script, in resend mode,
			// recognises the operation id if the write landed.
			resent = true
		}
	}
	res, err := s.runOpsAs(ctx, "put", []driver.Op{op}, false, []string{opid}, resent)
	if err != nil {
		return driver.Version{}, err
	}
	return res[0].Version, res[0].Err
}

// expiryBucket is opsSrc's bucket of a delete-after time in Unix ms
// (math.ceil(da / expiryBucketMs) * expiryBucketMs), "0" for none.
func expiryBucket(da int64) string {
	if da == 0 {
		return "0"
	}
	return strconv.FormatInt((da+expiryBucketMs-1)/expiryBucketMs*expiryBucketMs, 10)
}

// deleteAfterMs is the script argument of a delete-after time.
func deleteAfterMs(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return max(t.UnixMilli(), 1)
}

// recordAfterVersion is a record as opsSrc writes it, less its leading
// version: ":<operation id>:<bucket>:<label length>:<label><value>" (see
// decodeRecord).
func recordAfterVersion(opid, bucket, label string, value []byte) string {
	ll := strconv.Itoa(len(label))
	var b strings.Builder
	b.Grow(4 + len(opid) + len(bucket) + len(ll) + len(label) + len(value))
	for _, part := range []string{":", opid, ":", bucket, ":", ll, ":", label} {
		b.WriteString(part)
	}
	b.Write(value)
	return b.String()
}

// create tries the placement fast path (createSrc) for a create-only put
// with a label and an expiry time: it reports written when the record was
// created. Like update, it sets *opid to the new record's operation id,
// and does not apply, without an error, to other puts or when the key
// exists. On one creation in 16 it asks the general script to purge the
// expiry index, as the general script does itself.
func (s *Store) create(ctx context.Context, op driver.Op, opid *string) (driver.Version, bool, error) {
	if op.Label == "" || op.DeleteAfter.IsZero() || strings.IndexByte(op.Label, 0) >= 0 {
		return driver.Version{}, false, nil
	}
	*opid = s.opID()
	da := deleteAfterMs(op.DeleteAfter)
	bucket := expiryBucket(da)
	sh := s.shard(op.Key)
	out, err := createScript.Exec(ctx, s.client,
		[]string{s.recordKey(sh, op.Key), s.orders[sh], s.counts[sh], s.exps[sh], s.tags[sh] + ":l:" + op.Label},
		[]string{op.Key, recordAfterVersion(*opid, bucket, op.Label, op.Value), strconv.FormatInt(da, 10), bucket, op.Label}).ToArray()
	if err != nil {
		return driver.Version{}, false, err
	}
	if len(out) != 2 {
		return driver.Version{}, false, fmt.Errorf("redis %s: create script returned %d values: %w", s.addr, len(out), driver.ErrCorrupt)
	}
	ver, err := out[0].ToString()
	if err != nil || ver == "" {
		return driver.Version{}, false, err
	}
	if cn, _ := out[1].AsInt64(); cn%16 == 0 {
		s.purge(ctx, sh)
	}
	return driver.TagVersion(ver), true, nil
}

// purge has the general script remove due entries of shard sh's expiry
// index. It is housekeeping: a failure is left to the next one.
func (s *Store) purge(ctx context.Context, sh int) {
	_ = opsScript.Exec(ctx, s.client, []string{s.orders[sh], s.counts[sh], s.exps[sh]},
		[]string{s.tags[sh], "e", strconv.Itoa(purgePerWrite)}).Error()
}

// update tries the renewal fast path (updateSrc) for a put conditional on
// a version: it reports written when the record was replaced. It sets
// *opid to the operation id the new record carries, which the general
// script must reuse if the reply was lost. It does not apply, without an
// error, when the version is not one this driver can increment or the
// script finds the record changed.
func (s *Store) update(ctx context.Context, op driver.Op, opid *string) (driver.Version, bool, error) {
	tag := op.Cond.Version.Tag()
	dot := strings.LastIndexByte(tag, '.')
	if dot < 1 || strings.IndexByte(op.Label, 0) >= 0 {
		return driver.Version{}, false, nil
	}
	u, err := strconv.ParseUint(tag[dot+1:], 10, 64)
	if err != nil || u >= 1e15-1 || strings.IndexByte(tag[:dot], ':') >= 0 {
		return driver.Version{}, false, nil
	}
	*opid = s.opID()
	da := deleteAfterMs(op.DeleteAfter)
	bucket := expiryBucket(da)
	next := tag[:dot+1] + strconv.FormatUint(u+1, 10)
	labelField := strconv.Itoa(len(op.Label)) + ":" + op.Label
	rk := s.recordKey(s.shard(op.Key), op.Key)
	n, err := updateScript.Exec(ctx, s.client, []string{rk},
		[]string{tag + ":", next + recordAfterVersion(*opid, bucket, op.Label, op.Value), bucket, labelField, strconv.FormatInt(da, 10)}).AsInt64()
	if err != nil {
		return driver.Version{}, false, err
	}
	return driver.TagVersion(next), n == 1, nil
}

// Delete removes key if cond holds.
func (s *Store) Delete(ctx context.Context, key string, cond driver.Condition) error {
	res, err := s.runOps(ctx, "delete", []driver.Op{{Kind: driver.OpDelete, Key: key, Cond: cond}}, false)
	if err != nil {
		return err
	}
	return res[0].Err
}

// opArgs appends the seven script arguments of op; opid "" = a new one.
func (s *Store) opArgs(args []string, op driver.Op, opid string) ([]string, error) {
	kind := "p"
	switch op.Kind {
	case driver.OpPut:
	case driver.OpDelete:
		kind = "d"
	case driver.OpCheck:
		kind = "c"
	default:
		return nil, fmt.Errorf("redis: operation on %q has unknown kind %d: %w", op.Key, op.Kind, driver.ErrInvalidArgument)
	}
	if strings.IndexByte(op.Label, 0) >= 0 {
		return nil, fmt.Errorf("redis: label of %q contains a NUL byte: %w", op.Key, driver.ErrInvalidArgument)
	}
	cond, ver := "0", ""
	switch op.Cond.Kind {
	case driver.IfAbsent:
		cond = "1"
	case driver.IfVersion:
		cond, ver = "2", op.Cond.Version.Tag()
	}
	da := "0"
	if op.Kind == driver.OpPut {
		da = strconv.FormatInt(deleteAfterMs(op.DeleteAfter), 10)
	}
	label := ""
	if op.Kind == driver.OpPut {
		label = op.Label
	}
	if opid == "" {
		opid = s.opID()
	}
	return append(args, kind, cond, ver, string(op.Value), label, da, opid), nil
}

// runOps runs ops, which must all be on one shard when atomic, with the ops
// script and returns one result per op. err is a failure of the whole call;
// per-op condition failures are in the results.
func (s *Store) runOps(ctx context.Context, what string, ops []driver.Op, atomic bool) ([]driver.OpResult, error) {
	return s.runOpsAs(ctx, what, ops, atomic, nil, false)
}

// runOpsAs is runOps with the operation ids of opids where not "" (a
// write that may already have landed under that id), sent in resend mode
// from the first attempt when resent.
func (s *Store) runOpsAs(ctx context.Context, what string, ops []driver.Op, atomic bool, opids []string, resent bool) ([]driver.OpResult, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	sh := s.shard(ops[0].Key)
	keys := make([]string, 0, 3+len(ops))
	keys = append(keys, s.orders[sh], s.counts[sh], s.exps[sh])
	mode := "e"
	if atomic {
		mode = "a"
	}
	args := make([]string, 0, 3+7*len(ops))
	args = append(args, s.tags[sh], mode, strconv.Itoa(purgePerWrite))
	if resent && !atomic {
		args[1] = "r"
	}
	for i, op := range ops {
		if s.shard(op.Key) != sh {
			return nil, fmt.Errorf("redis: keys %q and %q are in different shards; a transaction needs shards = 1: %w", ops[0].Key, op.Key, driver.ErrUnsupported)
		}
		keys = append(keys, s.recordKey(sh, op.Key))
		opid := ""
		if i < len(opids) {
			opid = opids[i]
		}
		var err error
		if args, err = s.opArgs(args, op, opid); err != nil {
			return nil, err
		}
	}
	var out []string
	err := s.resend(ctx, atomic, args, func(ctx context.Context) error {
		var err error
		out, err = opsScript.Exec(ctx, s.client, keys, args).AsStrSlice()
		return err
	})
	if err != nil {
		return nil, s.wrap(what, ops[0].Key, err)
	}
	return s.opResults(ops, out, atomic)
}

func (s *Store) opResults(ops []driver.Op, out []string, atomic bool) ([]driver.OpResult, error) {
	if atomic && len(out) == 2 && out[0] == "!" {
		i, _ := strconv.Atoi(out[1])
		k := ""
		if i >= 1 && i <= len(ops) {
			k = ops[i-1].Key
		}
		return nil, fmt.Errorf("redis: transaction: condition on %q failed: %w", k, driver.ErrConflict)
	}
	if len(out) != len(ops) {
		return nil, fmt.Errorf("redis %s: script returned %d results for %d operations: %w", s.addr, len(out), len(ops), driver.ErrCorrupt)
	}
	res := make([]driver.OpResult, len(ops))
	for i, r := range out {
		op := ops[i]
		switch {
		case strings.HasPrefix(r, "!"):
			if op.Kind == driver.OpDelete && op.Cond.Kind == driver.IfVersion && r == "!" {
				res[i].Err = fmt.Errorf("redis: delete %q %s: key is absent: %w", op.Key, op.Cond, driver.ErrConflict)
			} else {
				res[i].Err = fmt.Errorf("redis: %s %q: condition %s failed (current version %q): %w", opName(op.Kind), op.Key, op.Cond, r[1:], driver.ErrConflict)
			}
		case op.Kind == driver.OpPut:
			if r == "" {
				return nil, fmt.Errorf("redis %s: script returned no version for %q: %w", s.addr, op.Key, driver.ErrCorrupt)
			}
			res[i].Version = driver.TagVersion(r)
		}
	}
	return res, nil
}

func opName(k driver.OpKind) string {
	switch k {
	case driver.OpPut:
		return "put"
	case driver.OpDelete:
		return "delete"
	default:
		return "check"
	}
}

// List returns one page of the keys with the given prefix, in order.
func (s *Store) List(ctx context.Context, prefix string, opts driver.ListOptions) (driver.ListPage, error) {
	return s.list(ctx, "list", s.orders, prefix, "", false, opts)
}

// ListIndex returns one page of the entries labelled label, in key order.
func (s *Store) ListIndex(ctx context.Context, label string, opts driver.ListOptions) (driver.ListPage, error) {
	idx := make([]string, len(s.tags))
	for i, t := range s.tags {
		idx[i] = t + ":l:" + label
	}
	return s.list(ctx, "list index", idx, "", label, true, opts)
}

func (s *Store) list(ctx context.Context, what string, zsets []string, prefix, label string, byLabel bool, opts driver.ListOptions) (driver.ListPage, error) {
	if err := s.checkOpen(); err != nil {
		return driver.ListPage{}, err
	}
	limit := opts.Limit
	if limit <= 0 || limit > DefaultListLimit {
		limit = DefaultListLimit
	}
	lo, hi := "-", "+"
	if prefix != "" {
		lo, hi = "["+prefix, "("+prefix+"\xff"
	}
	if opts.StartAfter != "" && opts.StartAfter >= prefix {
		lo = "(" + opts.StartAfter
	}
	want := strconv.Itoa(limit + 1)
	bl := "0"
	if byLabel {
		bl = "1"
	}
	execs := make([]rueidis.LuaExec, len(zsets))
	for i, z := range zsets {
		execs[i] = rueidis.LuaExec{Keys: []string{z}, Args: []string{s.tags[i], lo, hi, want, bl, label}}
	}
	var entries []driver.Entry
	err := s.retry(ctx, func(ctx context.Context) error {
		entries = entries[:0]
		for _, r := range listScript.ExecMulti(ctx, s.client, execs...) {
			kv, err := r.AsStrSlice()
			if err != nil {
				return err
			}
			for j := 0; j+1 < len(kv); j += 2 {
				ver, _, value, err := decodeRecord(kv[j], kv[j+1])
				if err != nil {
					return err
				}
				entries = append(entries, driver.Entry{Key: kv[j], Value: bytesOf(value), Version: driver.TagVersion(ver)})
			}
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, driver.ErrCorrupt) {
			return driver.ListPage{}, err
		}
		return driver.ListPage{}, s.wrap(what, prefix+label, err)
	}
	if len(zsets) > 1 {
		slices.SortFunc(entries, func(a, b driver.Entry) int { return strings.Compare(a.Key, b.Key) })
	}
	page := driver.ListPage{Entries: entries}
	if len(entries) > limit {
		page.Entries, page.More = entries[:limit], true
	}
	return page, nil
}

// Close closes the client. Calls after Close return ErrClosed.
func (s *Store) Close(context.Context) error {
	if s.closed.Swap(true) {
		return fmt.Errorf("redis %s: close: %w", s.addr, driver.ErrClosed)
	}
	s.client.Close()
	return nil
}

// NativeExpiry marks the driver.Expirer capability: records are written
// with PXAT.
func (s *Store) NativeExpiry() {}

// Txn applies ops atomically (one script on the single shard).
func (t txnStore) Txn(ctx context.Context, ops []driver.Op) ([]driver.Version, error) {
	if len(ops) == 0 {
		return nil, nil
	}
	if len(ops) > DefaultMaxTxnOps {
		return nil, fmt.Errorf("redis: transaction of %d operations exceeds %d: %w", len(ops), DefaultMaxTxnOps, driver.ErrInvalidArgument)
	}
	seen := make(map[string]struct{}, len(ops))
	for _, op := range ops {
		if _, dup := seen[op.Key]; dup {
			return nil, fmt.Errorf("redis: transaction names %q twice: %w", op.Key, driver.ErrInvalidArgument)
		}
		seen[op.Key] = struct{}{}
	}
	res, err := t.runOps(ctx, "txn", ops, true)
	if err != nil {
		return nil, err
	}
	vs := make([]driver.Version, len(res))
	for i, r := range res {
		vs[i] = r.Version
	}
	return vs, nil
}

// MaxTxnOps is the most operations one Txn accepts.
func (txnStore) MaxTxnOps() int { return DefaultMaxTxnOps }
