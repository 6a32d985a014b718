package drivertest

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/orbit-go/orbit/persistence"
)

// testGetMany: one answer per reference, in order — the live lease, or the
// zero lease for a reference never placed, released or expired — with
// repeated references answered alike, across more than one chunk of the
// batched path; an invalid reference fails the call naming its index.
func (h Harness) testGetMany(t *testing.T) {
	e := h.newEnv(t)
	const n = 1203 // more than one chunk of 1,000
	live := map[int]persistence.AddressableLease{}
	for i := 0; i < n; i += 3 {
		d := ttl
		if i%2 == 0 {
			d = 3 * ttl
		}
		l, err := e.addrs.Place(e.ctx, ref(fmt.Sprint("m", i)), node("n1"), d)
		if err != nil {
			t.Fatal(err)
		}
		live[i] = l
	}
	released := ref("m3")
	if err := e.addrs.Release(e.ctx, released, node("n1"), live[3].Epoch); err != nil {
		t.Fatal(err)
	}
	delete(live, 3)
	e.clock.Advance(ttl) // the odd placements expire now
	refs := make([]persistence.AddressableReference, 0, n+2)
	for i := 0; i < n; i++ {
		refs = append(refs, ref(fmt.Sprint("m", i)))
	}
	refs = append(refs, ref("m0"), ref("m1")) // repeats
	got, err := e.addrs.GetMany(e.ctx, refs)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(refs) {
		t.Fatalf("GetMany returned %d leases for %d references", len(got), len(refs))
	}
	for i, r := range refs {
		want, ok := live[i%n]
		if i >= n {
			want, ok = live[i-n]
		}
		if ok && want.Live(e.clock.Now()) {
			if !got[i].Equal(want) {
				t.Fatalf("GetMany[%d] (%s) = %+v, want %+v", i, r, got[i], want)
			}
			continue
		}
		if got[i].Epoch != 0 {
			t.Fatalf("GetMany[%d] (%s) = %+v, want the zero lease (none, released or expired)", i, r, got[i])
		}
	}
	bad := []persistence.AddressableReference{ref("m0"), {Namespace: "default", Type: "", Key: persistence.StringKey("x")}}
	if _, err := e.addrs.GetMany(e.ctx, bad); !errors.Is(err, persistence.ErrInvalidArgument) || !strings.Contains(err.Error(), "refs[1]") {
		t.Fatalf("GetMany with an invalid reference = %v, want ErrInvalidArgument naming refs[1]", err)
	}
	if out, err := e.addrs.GetMany(e.ctx, nil); err != nil || len(out) != 0 {
		t.Fatalf("GetMany(nil) = %v, %v", out, err)
	}
}
