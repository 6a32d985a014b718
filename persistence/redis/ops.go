package redis

// This file holds the general script's arguments and results: opArgs
// builds an operation's arguments, runOps/runOpsAs run the ops script,
// opResults decodes its reply.

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/orbit-go/orbit/persistence/driver"
)

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
		da = strconv.FormatInt(deleteAfterMs(op.ExpireAt), 10)
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
