package server

import (
	"context"
	"fmt"

	"github.com/orbit-go/orbit"
	orbitv1 "github.com/orbit-go/orbit/api/orbit/v1"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// MaxBatch is the most references one LocateOrPlaceBatch call accepts.
const MaxBatch = 1000

// batchParallelism bounds how many references of one batch are placed or
// taken over at the same time.
const batchParallelism = 16

// LocateOrPlaceBatch answers each reference as LocateOrPlace would, in
// order; a failing reference gets its own code and message. The leases are
// read together (one round trip per 1,000 on backends with a native batch
// path); a reference whose holder the node cache knows alive is answered
// from that read, the others are placed or taken over, batchParallelism at
// a time.
func (a *addressableService) LocateOrPlaceBatch(ctx context.Context, req *orbitv1.LocateOrPlaceBatchRequest) (*orbitv1.LocateOrPlaceBatchResponse, error) {
	s := a.s
	refs := req.GetReferences()
	if len(refs) > MaxBatch {
		return nil, status.Errorf(codes.InvalidArgument, "references: %d in one batch, the limit is %d", len(refs), MaxBatch)
	}
	enc := newBatchEncoder(len(refs))
	out := &orbitv1.LocateOrPlaceBatchResponse{Results: make([]*orbitv1.LocateOrPlaceResult, len(refs))}
	done := func(i int, lease *orbitv1.AddressableLease, placed bool) {
		res := enc.result(i)
		res.Lease, res.Placed = lease, placed
		out.Results[i] = res
	}
	failed := func(i int, code int32, message string) {
		res := enc.result(i)
		res.Code, res.Message = code, message
		out.Results[i] = res
	}
	fail := func(i int, err error) {
		st := status.Convert(err)
		failed(i, int32(st.Code()), fmt.Sprintf("references[%d]: %s", i, st.Message()))
	}
	parsed := make([]orbit.AddressableReference, 0, len(refs))
	at := make([]int, 0, len(refs)) // parsed[j] is references[at[j]]
	for i, r := range refs {
		ref, err := s.reference(r)
		if err != nil {
			fail(i, err)
			continue
		}
		parsed, at = append(parsed, ref), append(at, i)
	}
	// One read for all; if it fails, every reference takes the slow path,
	// which reports its own error.
	leases, err := s.addrs.GetMany(ctx, parsed)
	if err != nil {
		leases = make([]orbit.AddressableLease, len(parsed))
	}
	var slow []int
	first := map[string]int{} // a reference on the slow path -> its first occurrence
	repeats := map[int]int{}  // a later occurrence -> the first
	for j, l := range leases {
		if l.Epoch != 0 {
			if holder, ok := s.cachedHolder(ctx, l); ok {
				done(at[j], enc.lease(l, echoable(refs[at[j]], parsed[j]), holder), false)
				continue
			}
		}
		key := parsed[j].String()
		if f, ok := first[key]; ok {
			repeats[j] = f // answered as the first one is, which placed it
			continue
		}
		first[key] = j
		slow = append(slow, j)
	}
	var g errgroup.Group
	g.SetLimit(batchParallelism)
	for _, j := range slow {
		g.Go(func() error {
			resp, err := s.locateOrPlace(ctx, parsed[j])
			if err != nil {
				fail(at[j], err)
				return nil
			}
			done(at[j], resp.Lease, resp.Placed)
			return nil
		})
	}
	_ = g.Wait() // the goroutines report per reference
	for j, f := range repeats {
		r := out.Results[at[f]]
		if r.Code != 0 {
			failed(at[j], r.Code, fmt.Sprintf("references[%d]: same reference as %s", at[j], r.Message))
			continue
		}
		done(at[j], r.Lease, false)
	}
	return out, nil
}

// cachedHolder returns the node holding lease if the node cache knows its
// incarnation live; ok = false means "not known alive" (a caller that must
// know confirms in the directory).
func (s *Server) cachedHolder(ctx context.Context, lease orbit.AddressableLease) (orbit.NodeInfo, bool) {
	v, err := s.cache.get(ctx, lease.Node.Namespace)
	if err != nil {
		return orbit.NodeInfo{}, false
	}
	n, ok := v.byKey[lease.Node.Key]
	if !ok || !n.Live(s.clock.Now()) || n.Lease.Incarnation != lease.NodeIncarnation {
		return orbit.NodeInfo{}, false
	}
	return n, true
}
