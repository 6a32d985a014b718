package persistence

// LeaseOption qualifies an AddressableDirectory write. The zero value has
// no effect.
type LeaseOption struct {
	incarnation uint64
}

// OfIncarnation binds the write to incarnation n of the lease's node
// (NodeLease.Incarnation): Place and Takeover grant the new lease to it
// (AddressableLease.NodeIncarnation = n); Renew and Release refuse, with
// ErrFenced, a lease granted to another incarnation. So a node that re-joined
// under the same key can neither renew nor release the leases of its
// previous life. Without it (or with 0) leases are granted to incarnation 0
// and renewals do not check.
func OfIncarnation(n uint64) LeaseOption { return LeaseOption{incarnation: n} }

// incarnationOf is the incarnation the options name (the last one wins).
func incarnationOf(opts []LeaseOption) uint64 {
	var n uint64
	for _, o := range opts {
		if o.incarnation != 0 {
			n = o.incarnation
		}
	}
	return n
}
