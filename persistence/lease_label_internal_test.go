package persistence

import (
	"fmt"
	"testing"
)

// TestLabelCache returns each node's own label however the nodes collide
// in the table, and none for a released record.
func TestLabelCache(t *testing.T) {
	var c labelCache
	for round := range 3 {
		for i := range 200 { // more nodes than slots: collisions
			id := NodeID{Namespace: fmt.Sprint("ns/", i%3), Key: fmt.Sprint("node ", i)}
			if got, want := c.of(leaseRecord{AddressableLease: AddressableLease{Node: id}}), id.String(); got != want {
				t.Fatalf("round %d: label of %v = %q, want %q", round, id, got, want)
			}
		}
	}
	released := leaseRecord{AddressableLease: AddressableLease{Node: NodeID{Namespace: "default", Key: "n"}}, Released: true}
	if got := c.of(released); got != "" {
		t.Fatalf("label of a released record = %q, want none", got)
	}
}
