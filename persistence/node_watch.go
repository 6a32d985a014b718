package persistence

import (
	"context"
	"fmt"

	"github.com/orbit-go/orbit/persistence/driver"
)

// NodeChange is one change of a node record seen by WatchNodes.
type NodeChange struct {
	// ID names the node.
	ID NodeID
	// Node is the record after the change (its token as the digest); zero
	// when Removed. A renewal is a change (a later ExpiresAt).
	Node NodeInfo
	// Removed: the record was deleted (the node left, or the sweeper
	// removed it after it lapsed). A lease that lapses is no change by
	// itself: the record stays with an ExpiresAt in the past, which a
	// watcher times on its own.
	Removed bool
	// Err, on the last change before the channel closes early, says why
	// the watch ended (a record that does not decode, the backend cut the
	// watch); the watcher lists again and watches again.
	Err error
}

// WatchNodes streams the changes of namespace's node records ("" = every
// namespace) made after it returns, from the backend's native watch (etcd, Kubernetes, memory).
// The channel closes when ctx ends, the provider closes, or the backend
// ends the watch (then the last change carries Err). Without the watch
// capability it returns ErrUnsupported: the caller polls ListAll.
func (d *nodes) WatchNodes(ctx context.Context, namespace string) (<-chan NodeChange, error) {
	if namespace != "" {
		if err := (NodeID{Namespace: namespace, Key: "x"}).Validate(); err != nil {
			return nil, err
		}
	}
	if d.kv.watch == nil {
		return nil, fmt.Errorf("watch nodes of namespace %q: the backend has no native watch: %w", namespace, ErrUnsupported)
	}
	events, err := d.kv.watch.Watch(ctx, nodeNamespacePrefix(namespace))
	if err != nil {
		return nil, fmt.Errorf("watch nodes of namespace %q: %w", namespace, err)
	}
	out := make(chan NodeChange, 64)
	go func() {
		defer close(out)
		for ev := range events {
			c := decodeNodeChange(ev)
			select {
			case out <- c:
			case <-ctx.Done():
				return
			}
			if c.Err != nil {
				return
			}
		}
	}()
	return out, nil
}

func decodeNodeChange(ev driver.Event) NodeChange {
	id, err := parseNodeKey(ev.Entry.Key)
	if err != nil {
		return NodeChange{Err: err}
	}
	if ev.Kind == driver.EventDelete {
		return NodeChange{ID: id, Removed: true}
	}
	n, err := decodeNode(ev.Entry.Value)
	if err != nil {
		return NodeChange{ID: id, Err: fmt.Errorf("decode node %s: %w", id, err)}
	}
	return NodeChange{ID: id, Node: n}
}
