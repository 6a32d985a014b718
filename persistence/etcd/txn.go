package etcd

import (
	"context"
	"fmt"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/orbit-go/orbit/persistence/driver"
)

// MaxTxnOps is the most operations one Txn accepts: Options.MaxTxnOps,
// which must not exceed the server's --max-txn-ops (etcd's default 128).
func (s *Store) MaxTxnOps() int { return s.opts.MaxTxnOps }

// Txn applies ops atomically as one etcd transaction: every condition
// (Op.Cond of any kind of op) becomes a comparison, every OpPut and
// OpDelete a request of the success branch. If any comparison fails,
// nothing is applied and the error Is driver.ErrConflict. An OpPut with a
// ExpireAt is attached to the lease of its TTL bucket.
//
// It returns, per op, the new version of a put (the transaction's
// revision), the version a check asserted (IfVersion) and the zero Version
// otherwise. More than MaxTxnOps ops, a key given twice or an unknown kind
// is driver.ErrInvalidArgument.
func (s *Store) Txn(ctx context.Context, ops []driver.Op) ([]driver.Version, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	if len(ops) > s.opts.MaxTxnOps {
		return nil, fmt.Errorf("etcd: transaction of %d operations exceeds max_txn_ops=%d: %w", len(ops), s.opts.MaxTxnOps, driver.ErrInvalidArgument)
	}
	seen := make(map[string]struct{}, len(ops))
	for _, op := range ops {
		if _, dup := seen[op.Key]; dup {
			return nil, fmt.Errorf("etcd: key %q appears twice in one transaction: %w", op.Key, driver.ErrInvalidArgument)
		}
		seen[op.Key] = struct{}{}
		if op.Kind != driver.OpPut && op.Kind != driver.OpDelete && op.Kind != driver.OpCheck {
			return nil, fmt.Errorf("etcd: unknown op kind %d for key %q: %w", op.Kind, op.Key, driver.ErrInvalidArgument)
		}
	}
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	for attempt := 0; ; attempt++ {
		cmps := make([]clientv3.Cmp, 0, len(ops))
		then := make([]clientv3.Op, 0, len(ops))
		var leases []leaseRef
		for _, op := range ops {
			full := s.full(op.Key)
			if op.Cond.Kind != driver.Always {
				cmp, ok := compare(full, op.Cond)
				if !ok {
					return nil, txnConflict(ops)
				}
				cmps = append(cmps, cmp)
			}
			switch op.Kind {
			case driver.OpPut:
				var putOpts []clientv3.OpOption
				if !op.ExpireAt.IsZero() {
					l, err := s.buckets.lease(ctx, op.ExpireAt)
					if err != nil {
						return nil, s.wrap("txn", op.Key, err)
					}
					leases = append(leases, l)
					putOpts = append(putOpts, clientv3.WithLease(l.id))
				}
				then = append(then, clientv3.OpPut(full, string(op.Value), putOpts...))
			case driver.OpDelete:
				then = append(then, clientv3.OpDelete(full))
			}
		}
		resp, err := s.client.Txn(ctx).If(cmps...).Then(then...).Commit()
		if err != nil {
			if isLeaseNotFound(err) && attempt == 0 {
				for _, l := range leases {
					s.buckets.forget(l)
				}
				continue
			}
			return nil, s.wrap("txn", txnKeys(ops), err)
		}
		if !resp.Succeeded {
			return nil, txnConflict(ops)
		}
		out := make([]driver.Version, len(ops))
		for i, op := range ops {
			switch {
			case op.Kind == driver.OpPut:
				out[i] = driver.NumVersion(uint64(resp.Header.Revision))
			case op.Kind == driver.OpCheck && op.Cond.Kind == driver.IfVersion:
				out[i] = op.Cond.Version
			}
		}
		return out, nil
	}
}

// txnKeys names the keys of a transaction for messages (at most 5).
func txnKeys(ops []driver.Op) string {
	var b strings.Builder
	for i, op := range ops {
		if i == 5 {
			fmt.Fprintf(&b, " and %d more", len(ops)-5)
			break
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(op.Key)
	}
	return b.String()
}

func txnConflict(ops []driver.Op) error {
	return fmt.Errorf("etcd: transaction on %s: a condition does not hold: %w", txnKeys(ops), driver.ErrConflict)
}
