package memory

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/orbit-go/orbit/persistence/driver"
)

// watchBuffer is how many events a watcher may fall behind before its
// channel is closed (the caller then re-lists and watches again).
const watchBuffer = 4096

type watcher struct {
	prefix string
	ch     chan driver.Event
	once   sync.Once
}

func (w *watcher) close() { w.once.Do(func() { close(w.ch) }) }

// watchers fans events out to subscribers. publish is called with the
// writing key's shard lock held, so events of one key are sent in order.
type watchers struct {
	active atomic.Int32 // len(list), read without the lock on every write
	mu     sync.Mutex
	list   []*watcher
}

func (ws *watchers) publish(ev driver.Event) {
	if ws.active.Load() == 0 {
		return
	}
	ws.mu.Lock()
	if len(ws.list) == 0 {
		ws.mu.Unlock()
		return
	}
	kept := ws.list[:0]
	for _, w := range ws.list {
		if !strings.HasPrefix(ev.Entry.Key, w.prefix) {
			kept = append(kept, w)
			continue
		}
		select {
		case w.ch <- ev:
			kept = append(kept, w)
		default:
			w.close() // too slow: dropped, its consumer must re-list
		}
	}
	ws.list = kept
	ws.active.Store(int32(len(kept)))
	ws.mu.Unlock()
}

func (ws *watchers) remove(w *watcher) {
	ws.mu.Lock()
	for i, x := range ws.list {
		if x == w {
			ws.list = append(ws.list[:i], ws.list[i+1:]...)
			ws.active.Store(int32(len(ws.list)))
			break
		}
	}
	ws.mu.Unlock()
	w.close()
}

func (ws *watchers) closeAll() {
	ws.mu.Lock()
	for _, w := range ws.list {
		w.close()
	}
	ws.list = nil
	ws.active.Store(0)
	ws.mu.Unlock()
}

// Watch streams every change under prefix from now on.
func (s *Store) Watch(ctx context.Context, prefix string) (<-chan driver.Event, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	w := &watcher{prefix: prefix, ch: make(chan driver.Event, watchBuffer)}
	s.watch.mu.Lock()
	if s.closed.Load() {
		s.watch.mu.Unlock()
		return nil, fmt.Errorf("memory store: %w", driver.ErrClosed)
	}
	s.watch.list = append(s.watch.list, w)
	s.watch.active.Store(int32(len(s.watch.list)))
	s.watch.mu.Unlock()
	go func() {
		<-ctx.Done()
		s.watch.remove(w)
	}()
	return w.ch, nil
}
