package persistence

import (
	"context"
	"errors"
	"fmt"

	"github.com/orbit-go/orbit/persistence/driver"
)

// readState is what a transaction saw of one key.
type readState struct {
	version driver.Version
	found   bool
	value   []byte
}

// stagedKind is what a transaction will do to one key.
type stagedKind uint8

const (
	stageStoreLease stagedKind = iota + 1
	stageRemoveLease
	stageStoreNode
	stageRemoveNode
)

type staged struct {
	kind  stagedKind
	lease AddressableLease
	node  NodeInfo
}

// transaction implements Transaction with optimistic concurrency control over
// driver.Transactional: every key read or written becomes a condition of the
// single Txn that Commit sends.
type transaction struct {
	p      *provider
	reads  map[string]readState
	writes map[string]staged
	order  []string
	done   bool
}

func newTransaction(p *provider) *transaction {
	return &transaction{p: p, reads: map[string]readState{}, writes: map[string]staged{}}
}

var errTxnDone = fmt.Errorf("transaction already committed or rolled back: %w", ErrInvalidArgument)

// readKey reads key once per transaction and remembers its version.
func (t *transaction) readKey(ctx context.Context, key string) (readState, error) {
	if rs, ok := t.reads[key]; ok {
		return rs, nil
	}
	e, err := t.p.kv.store.Get(ctx, key)
	var rs readState
	switch {
	case errors.Is(err, ErrNotFound):
	case err != nil:
		return rs, fmt.Errorf("transaction read %q: %w", key, err)
	default:
		rs = readState{version: e.Version, found: true, value: e.Value}
	}
	t.reads[key] = rs
	return rs, nil
}

func (t *transaction) stage(key string, s staged) error {
	if t.done {
		return errTxnDone
	}
	if _, ok := t.writes[key]; !ok {
		t.order = append(t.order, key)
	}
	t.writes[key] = s
	return nil
}

func (t *transaction) GetLease(ctx context.Context, ref AddressableReference) (AddressableLease, error) {
	if t.done {
		return AddressableLease{}, errTxnDone
	}
	if err := ref.Validate(); err != nil {
		return AddressableLease{}, err
	}
	key := leaseKey(ref)
	if s, ok := t.writes[key]; ok {
		if s.kind == stageStoreLease && s.lease.Live(t.p.opt.clock.Now()) {
			return s.lease, nil
		}
		return AddressableLease{}, fmt.Errorf("lease of %s: %w", ref, ErrNotFound)
	}
	rs, err := t.readKey(ctx, key)
	if err != nil {
		return AddressableLease{}, err
	}
	if rs.found {
		rec, err := decodeLease(key, rs.value)
		if err != nil {
			return AddressableLease{}, fmt.Errorf("decode lease %q: %w", key, err)
		}
		if !rec.Released && rec.Live(t.p.opt.clock.Now()) {
			return rec.AddressableLease, nil
		}
	}
	return AddressableLease{}, fmt.Errorf("lease of %s: %w", ref, ErrNotFound)
}

func (t *transaction) StoreLease(lease AddressableLease) error {
	if err := lease.Validate(); err != nil {
		return err
	}
	return t.stage(leaseKey(lease.Reference), staged{kind: stageStoreLease, lease: lease})
}

func (t *transaction) RemoveLease(ref AddressableReference) error {
	if err := ref.Validate(); err != nil {
		return err
	}
	return t.stage(leaseKey(ref), staged{kind: stageRemoveLease, lease: AddressableLease{Reference: ref}})
}

func (t *transaction) GetNode(ctx context.Context, id NodeID) (NodeInfo, error) {
	if t.done {
		return NodeInfo{}, errTxnDone
	}
	if err := id.Validate(); err != nil {
		return NodeInfo{}, err
	}
	key := nodeKey(id)
	if s, ok := t.writes[key]; ok {
		if s.kind == stageStoreNode && s.node.Live(t.p.opt.clock.Now()) {
			return s.node.Clone(), nil
		}
		return NodeInfo{}, fmt.Errorf("node %s: %w", id, ErrNotFound)
	}
	rs, err := t.readKey(ctx, key)
	if err != nil {
		return NodeInfo{}, err
	}
	if rs.found {
		n, err := decodeNode(rs.value)
		if err != nil {
			return NodeInfo{}, fmt.Errorf("decode node %q: %w", key, err)
		}
		if n.Live(t.p.opt.clock.Now()) {
			return n, nil
		}
	}
	return NodeInfo{}, fmt.Errorf("node %s: %w", id, ErrNotFound)
}

func (t *transaction) StoreNode(node NodeInfo) error {
	if err := node.Validate(); err != nil {
		return err
	}
	return t.stage(nodeKey(node.ID), staged{kind: stageStoreNode, node: node.Clone()})
}

func (t *transaction) RemoveNode(id NodeID) error {
	if err := id.Validate(); err != nil {
		return err
	}
	return t.stage(nodeKey(id), staged{kind: stageRemoveNode, node: NodeInfo{ID: id}})
}

func condOf(rs readState) driver.Condition {
	if rs.found {
		return driver.MatchVersion(rs.version)
	}
	return driver.CreateOnly()
}

// Commit sends every staged write, guarded by the versions read, as one Txn.
func (t *transaction) Commit(ctx context.Context) error {
	if t.done {
		return errTxnDone
	}
	t.done = true
	now := t.p.opt.clock.Now()
	var ops []driver.Op
	for _, key := range t.order {
		s := t.writes[key]
		rs, err := t.readKey(ctx, key)
		if err != nil {
			return err
		}
		cond := condOf(rs)
		switch s.kind {
		case stageStoreLease, stageRemoveLease:
			var prev leaseRecord
			if rs.found {
				if prev, err = decodeLease(key, rs.value); err != nil {
					return fmt.Errorf("decode lease %q: %w", key, err)
				}
			}
			if s.kind == stageRemoveLease {
				if !rs.found || prev.Released {
					ops = append(ops, driver.Op{Kind: driver.OpCheck, Key: key, Cond: cond})
					continue
				}
				tomb := prev
				tomb.Released, tomb.RenewAt = true, now
				if tomb.ExpiresAt.After(now) {
					tomb.ExpiresAt = now
				}
				if tomb.CreatedAt.After(tomb.ExpiresAt) {
					tomb.CreatedAt = tomb.ExpiresAt
				}
				ops = append(ops, driver.Op{Kind: driver.OpPut, Key: key, Value: encodeLease(tomb), Cond: cond,
					ExpireAt: t.p.kv.expireAt(tomb.ExpiresAt)})
				if t.p.kv.index == nil {
					ops = append(ops, driver.Op{Kind: driver.OpDelete, Key: indexKey(prev.Node, key), Cond: driver.Unconditional()})
				}
				continue
			}
			l := s.lease
			if rs.found && (prev.Epoch > l.Epoch || (prev.Epoch == l.Epoch && prev.Node != l.Node)) {
				return fmt.Errorf("transaction store lease %s at epoch %d: stored lease has epoch %d on node %s: %w",
					l.Reference, l.Epoch, prev.Epoch, prev.Node, ErrFenced)
			}
			rec := leaseRecord{AddressableLease: l}
			ops = append(ops, driver.Op{Kind: driver.OpPut, Key: key, Value: encodeLease(rec), Cond: cond, Label: t.p.addrs.labels.of(rec),
				ExpireAt: t.p.kv.expireAt(l.ExpiresAt)})
			if t.p.kv.index != nil {
				continue
			}
			ops = append(ops, driver.Op{Kind: driver.OpPut, Key: indexKey(l.Node, key), Value: encodeIndex(indexRecord{Epoch: l.Epoch, WrittenAt: now}),
				Cond: driver.Unconditional(), ExpireAt: t.p.kv.expireAt(l.ExpiresAt)})
			if rs.found && prev.Node != l.Node {
				ops = append(ops, driver.Op{Kind: driver.OpDelete, Key: indexKey(prev.Node, key), Cond: driver.Unconditional()})
			}
		case stageStoreNode:
			ops = append(ops, driver.Op{Kind: driver.OpPut, Key: key, Value: encodeNode(s.node), Cond: cond,
				ExpireAt: t.p.kv.expireAt(s.node.Lease.ExpiresAt)})
		case stageRemoveNode:
			if rs.found {
				ops = append(ops, driver.Op{Kind: driver.OpDelete, Key: key, Cond: cond})
			} else {
				ops = append(ops, driver.Op{Kind: driver.OpCheck, Key: key, Cond: cond})
			}
		}
	}
	for key, rs := range t.reads {
		if _, written := t.writes[key]; !written {
			ops = append(ops, driver.Op{Kind: driver.OpCheck, Key: key, Cond: condOf(rs)})
		}
	}
	if len(ops) == 0 {
		return nil
	}
	if max := t.p.kv.txn.MaxTxnOps(); max > 0 && len(ops) > max {
		return fmt.Errorf("transaction needs %d backend operations, provider %q allows %d: %w", len(ops), t.p.name, max, ErrInvalidArgument)
	}
	if _, err := t.p.kv.txn.Txn(ctx, ops); err != nil {
		return fmt.Errorf("commit transaction on provider %q: %w", t.p.name, err)
	}
	return nil
}

func (t *transaction) Rollback() error {
	t.done = true
	t.reads, t.writes, t.order = nil, nil, nil
	return nil
}
