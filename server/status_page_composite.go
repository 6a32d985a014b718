//go:build !orbit_no_composite && !orbit_minimal

package server

import (
	"strings"

	"github.com/orbit-go/orbit/persistence"
	"github.com/orbit-go/orbit/persistence/composite"
	"github.com/orbit-go/orbit/server/statuspage"
)

// The composite state on the status page; left out with the composite
// provider (build tags orbit_no_composite, orbit_minimal).
func init() { compositeStatusOf = compositeStatus }

func compositeStatus(p persistence.Provider) *statuspage.Composite {
	store, ok := persistence.StoreOf(p).(*composite.Store)
	if !ok {
		return nil
	}
	st := store.Status()
	names := [2]string{p.Name() + ".primary", p.Name() + ".backup"}
	out := &statuspage.Composite{Active: st.Active.String(), Since: st.Since.UTC(), Generation: st.Generation,
		StandbyBehind: st.StandbyBehind}
	if t := st.LastSync; t.UnixNano() > 0 {
		t = t.UTC()
		out.LastSync = &t
	}
	if t := st.LastFailover; !t.IsZero() {
		t = t.UTC()
		out.LastFailover = &t
	}
	for i, side := range []composite.Side{composite.Primary, composite.Backup} {
		h := st.Health[i]
		out.Sides = append(out.Sides, statuspage.CompositeSide{Role: side.String(), Name: names[i],
			Health: strings.ToLower(h.Status.String()), Reason: h.Reason, ConsecutiveFailures: st.ConsecutiveFailures[i]})
	}
	return out
}
