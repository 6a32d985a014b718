package persistence

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/orbit-go/orbit/internal/cas"
	"github.com/orbit-go/orbit/persistence/driver"
)

// nodes implements ClusterNodeDirectory over a driver.Store.
type nodes struct {
	kv  *kv
	opt *options
	// cache holds the node records this provider last read or wrote, so
	// that a renewal is one conditional write (nil when reads are cheap).
	cache *versionCache[NodeInfo]
}

var _ ClusterNodeDirectory = (*nodes)(nil)

func (d *nodes) read(ctx context.Context, id NodeID) (NodeInfo, driver.Version, bool, error) {
	key := nodeKey(id)
	e, err := d.kv.store.Get(ctx, key)
	if errors.Is(err, ErrNotFound) {
		return NodeInfo{}, driver.Version{}, false, nil
	}
	if err != nil {
		return NodeInfo{}, driver.Version{}, false, fmt.Errorf("read node %s: %w", id, err)
	}
	n, err := decodeNode(e.Value)
	if err != nil {
		return NodeInfo{}, driver.Version{}, false, fmt.Errorf("decode node %q: %w", key, err)
	}
	d.cache.put(key, e.Version, n.Clone())
	return n, e.Version, true, nil
}

// write puts node under its key if cond holds, keeping the cache true: the
// new version on success, nothing after a failure.
func (d *nodes) write(ctx context.Context, node NodeInfo, cond driver.Condition) error {
	key := nodeKey(node.ID)
	v, err := d.kv.put(ctx, key, encodeNode(node), cond, "", node.Lease.ExpiresAt)
	if err != nil {
		d.cache.drop(key)
		return err
	}
	d.cache.put(key, v, node.Clone())
	return nil
}

func (d *nodes) Store(ctx context.Context, node NodeInfo) error {
	if err := node.Validate(); err != nil {
		return err
	}
	node.Lease.ChallengeToken = HashChallengeToken(node.Lease.ChallengeToken)
	if err := d.write(ctx, node, driver.Unconditional()); err != nil {
		return fmt.Errorf("store node %s: %w", node.ID, err)
	}
	return nil
}

func (d *nodes) Get(ctx context.Context, id NodeID) (NodeInfo, error) {
	if err := id.Validate(); err != nil {
		return NodeInfo{}, err
	}
	n, _, found, err := d.read(ctx, id)
	if err != nil {
		return NodeInfo{}, err
	}
	if !found || !n.Live(d.opt.clock.Now()) {
		return NodeInfo{}, fmt.Errorf("node %s: %w", id, ErrNotFound)
	}
	return n, nil
}

// holderCAS applies mutate to the live node id if token matches. Its first
// attempt starts from the cached record, if it shows the node live: a
// renewal is then one conditional write and no read (a stale record fails
// the condition, and the next attempt reads).
func (d *nodes) holderCAS(ctx context.Context, op string, id NodeID, token string, mutate func(n *NodeInfo, now time.Time)) (NodeInfo, error) {
	key := nodeKey(id)
	return cas.Retry(ctx, d.opt.cas, op+" node", id, func(attempt int) (NodeInfo, bool, error) {
		var n NodeInfo
		var ver driver.Version
		var found bool
		if c, ok := d.cache.get(key); ok && attempt == 0 && c.rec.Live(d.opt.clock.Now()) {
			n, ver, found = c.rec.Clone(), c.ver, true
		} else {
			var err error
			if n, ver, found, err = d.read(ctx, id); err != nil {
				return NodeInfo{}, false, fmt.Errorf("%s: %w", op, err)
			}
		}
		now := d.opt.clock.Now()
		if !found || !n.Live(now) {
			return NodeInfo{}, false, fmt.Errorf("%s node %s: no unexpired node: %w", op, id, ErrNotFound)
		}
		if !n.Lease.TokenMatches(token) {
			return NodeInfo{}, false, fmt.Errorf("%s node %s: challenge token does not match: %w", op, id, ErrFenced)
		}
		mutate(&n, now)
		err := d.write(ctx, n, driver.MatchVersion(ver))
		if errors.Is(err, ErrConflict) {
			return NodeInfo{}, true, nil
		}
		if err != nil {
			return NodeInfo{}, false, fmt.Errorf("%s node %s: %w", op, id, err)
		}
		return n, false, nil
	})
}

func (d *nodes) Update(ctx context.Context, node NodeInfo) (NodeInfo, error) {
	if err := node.Validate(); err != nil {
		return NodeInfo{}, err
	}
	return d.holderCAS(ctx, "update", node.ID, node.Lease.ChallengeToken, func(n *NodeInfo, _ time.Time) {
		kept := n.Lease
		owner := n.Owner
		*n = node.Clone()
		n.Lease.ChallengeToken, n.Lease.Incarnation, n.Owner = kept.ChallengeToken, kept.Incarnation, owner
	})
}

func (d *nodes) RenewLease(ctx context.Context, id NodeID, token string, ttl time.Duration) (NodeLease, error) {
	if err := id.Validate(); err != nil {
		return NodeLease{}, err
	}
	if err := checkTTL(ttl); err != nil {
		return NodeLease{}, err
	}
	n, err := d.holderCAS(ctx, "renew", id, token, func(n *NodeInfo, now time.Time) {
		n.Lease.RenewAt, n.Lease.ExpiresAt = now.Add(ttl/6), now.Add(ttl)
	})
	if err != nil {
		return NodeLease{}, err
	}
	n.Lease.ChallengeToken = token
	return n.Lease, nil
}

func (d *nodes) Join(ctx context.Context, node NodeInfo) (NodeInfo, error) {
	if err := node.Validate(); err != nil {
		return NodeInfo{}, err
	}
	if node.Lease.ChallengeToken == "" {
		return NodeInfo{}, invalid("lease.challenge_token", "must be set to join")
	}
	return cas.Retry(ctx, d.opt.cas, "join node", node.ID, func(int) (NodeInfo, bool, error) {
		prev, ver, found, err := d.read(ctx, node.ID)
		if err != nil {
			return NodeInfo{}, false, fmt.Errorf("join: %w", err)
		}
		cond := driver.CreateOnly()
		if found {
			if prev.Live(d.opt.clock.Now()) {
				return NodeInfo{}, false, fmt.Errorf("join node %s: a live node holds this id until %s: %w",
					node.ID, prev.Lease.ExpiresAt.UTC().Format(time.RFC3339Nano), ErrConflict)
			}
			cond = driver.MatchVersion(ver) // replace the lapsed record, if no one else did
		}
		joined := node.Clone()
		joined.Lease.Incarnation = newIncarnation(prev.Lease.Incarnation)
		stored := joined
		stored.Lease.ChallengeToken = HashChallengeToken(joined.Lease.ChallengeToken)
		err = d.write(ctx, stored, cond)
		if errors.Is(err, ErrConflict) {
			return NodeInfo{}, true, nil // another join won the race: judge again
		}
		if err != nil {
			return NodeInfo{}, false, fmt.Errorf("join node %s: %w", node.ID, err)
		}
		return joined, false, nil
	})
}

// newIncarnation draws a random non-zero incarnation other than prev. A
// random 64-bit value cannot repeat a swept record's incarnation except
// with probability 2^-64, whatever the servers' clocks say.
func newIncarnation(prev uint64) uint64 {
	for {
		var b [8]byte
		_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
		if n := binary.BigEndian.Uint64(b[:]); n != 0 && n != prev {
			return n
		}
	}
}

func (d *nodes) Remove(ctx context.Context, id NodeID) error {
	if err := id.Validate(); err != nil {
		return err
	}
	d.cache.drop(nodeKey(id))
	if err := d.kv.store.Delete(ctx, nodeKey(id), driver.Unconditional()); err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("remove node %s: %w", id, err)
	}
	return nil
}

func (d *nodes) list(ctx context.Context, namespace string, keep func(NodeInfo) bool) ([]NodeInfo, error) {
	if namespace != "" {
		if err := checkIdent("namespace", namespace, MaxNamespaceLen); err != nil {
			return nil, err
		}
	}
	var out []NodeInfo
	err := forEachEntry(ctx, d.kv.store, nodeNamespacePrefix(namespace), func(e driver.Entry) error {
		n, err := decodeNode(e.Value)
		if err != nil {
			return fmt.Errorf("decode node %q: %w", e.Key, err)
		}
		if keep(n) {
			out = append(out, n)
		}
		return nil
	})
	return out, err
}

func (d *nodes) ListActive(ctx context.Context, namespace string) ([]NodeInfo, error) {
	now := d.opt.clock.Now()
	return d.list(ctx, namespace, func(n NodeInfo) bool { return n.Status == NodeActive && n.Live(now) })
}

func (d *nodes) ListAll(ctx context.Context, namespace string) ([]NodeInfo, error) {
	now := d.opt.clock.Now()
	return d.list(ctx, namespace, func(n NodeInfo) bool { return n.Live(now) })
}

func (d *nodes) CleanupExpired(ctx context.Context) (int, error) {
	now := d.opt.clock.Now()
	removed := 0
	err := forEachEntry(ctx, d.kv.store, nodePrefix, func(e driver.Entry) error {
		n, err := decodeNode(e.Value)
		if err != nil {
			return fmt.Errorf("decode node %q: %w", e.Key, err)
		}
		if n.Live(now) {
			return nil
		}
		err = d.kv.store.Delete(ctx, e.Key, driver.MatchVersion(e.Version))
		switch {
		case err == nil:
			removed++
		case errors.Is(err, ErrConflict), errors.Is(err, ErrNotFound):
		default:
			return fmt.Errorf("cleanup node %q: %w", e.Key, err)
		}
		return nil
	})
	return removed, err
}
