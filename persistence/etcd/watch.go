package etcd

import (
	"context"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/orbit-go/orbit/persistence/driver"
)

// WatchBuffer is how many events a watcher may fall behind before its
// channel is closed (the caller then lists again and watches again).
const WatchBuffer = 4096

// Watch streams every change of a key under prefix made after Watch
// returned (driver.Watcher).
//
// Semantics:
//   - Watch first reads the store's current revision R (one linearizable
//     request, which also checks read permission) and streams from R+1, so
//     no change made after it returned is missed;
//   - events arrive in revision order, which is the order etcd applied them;
//     the writes of one transaction share a revision and arrive together;
//     entries deleted by a bucket lease's expiry arrive as EventDelete;
//   - a disconnect, a member restart or a lost leader does not end the
//     stream: it is resumed from the revision after the last one delivered
//     (etcd's watch with a start revision), and an event whose revision was
//     already delivered is dropped, so nothing is lost or repeated;
//   - if the revisions to resume from were compacted in the meantime (etcd
//     answers ErrCompacted), events are lost: the channel is closed, and the
//     caller lists again and watches again (driver.Watcher's contract);
//   - the channel is also closed when ctx ends, when the store closes, when
//     etcd refuses the user read access, and when the consumer falls
//     WatchBuffer events behind.
func (s *Store) Watch(ctx context.Context, prefix string) (<-chan driver.Event, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	start := s.full(prefix)
	end := clientv3.GetPrefixRangeEnd(start)
	if start == "" {
		start, end = "\x00", "\x00"
	}
	rctx, cancel := s.opCtx(ctx)
	resp, err := s.client.Get(rctx, start, clientv3.WithRange(end), clientv3.WithCountOnly())
	cancel()
	if err != nil {
		return nil, s.wrap("watch", prefix, err)
	}
	wctx, wcancel := context.WithCancel(ctx)
	stop := context.AfterFunc(s.ctx, wcancel)
	out := make(chan driver.Event, WatchBuffer)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer stop()
		defer wcancel()
		defer close(out)
		s.watchLoop(wctx, start, end, resp.Header.Revision+1, out)
	}()
	return out, nil
}

// watchLoop forwards events from revision next on until ctx ends, the
// history is compacted or the consumer is too slow.
func (s *Store) watchLoop(ctx context.Context, start, end string, next int64, out chan<- driver.Event) {
	delay := 100 * time.Millisecond
	for ctx.Err() == nil {
		wch := s.client.Watch(clientv3.WithRequireLeader(ctx), start, clientv3.WithRange(end),
			clientv3.WithRev(next), clientv3.WithProgressNotify())
		for resp := range wch {
			if resp.CompactRevision != 0 {
				s.opts.Logger.Warn("etcd watch: history compacted, closing the watch",
					zap.String("prefix", start), zap.Int64("from", next), zap.Int64("compacted", resp.CompactRevision))
				return
			}
			if err := resp.Err(); err != nil {
				if isPermission(err) {
					s.opts.Logger.Warn("etcd watch: permission denied, closing the watch", zap.String("prefix", start), zap.Error(err))
					return
				}
				break // no leader, or another cancellation: watch again
			}
			delay = 100 * time.Millisecond
			if resp.IsProgressNotify() && resp.Header.Revision >= next {
				next = resp.Header.Revision + 1 // nothing under the range up to there
				continue
			}
			for _, ev := range resp.Events {
				if ev.Kv.ModRevision < next {
					continue // delivered before a reconnection
				}
				if !s.send(out, s.event(ev)) {
					s.opts.Logger.Warn("etcd watch: consumer too slow, closing the watch", zap.String("prefix", start))
					return
				}
			}
			if n := len(resp.Events); n > 0 {
				next = max(next, resp.Events[n-1].Kv.ModRevision+1)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
			delay = min(2*delay, 2*time.Second)
		}
	}
}

func (s *Store) event(ev *clientv3.Event) driver.Event {
	key := string(ev.Kv.Key[len(s.pfx):])
	v := driver.NumVersion(uint64(ev.Kv.ModRevision))
	if ev.Type == mvccpb.DELETE {
		return driver.Event{Kind: driver.EventDelete, Entry: driver.Entry{Key: key, Version: v}}
	}
	return driver.Event{Kind: driver.EventPut, Entry: driver.Entry{Key: key, Value: ev.Kv.Value, Version: v}}
}

// send delivers ev without blocking; false when the buffer is full.
func (s *Store) send(out chan<- driver.Event, ev driver.Event) bool {
	select {
	case out <- ev:
		return true
	default:
		return false
	}
}
