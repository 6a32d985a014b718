package client

import (
	"context"
	"fmt"

	"github.com/orbit-go/orbit"
	orbitv1 "github.com/orbit-go/orbit/api/orbit/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// BatchResult is the answer for one reference of LocateOrPlaceBatch: a
// lease (and whether this call placed it), or Err for that reference alone
// (classified like every client error: errors.Is(err, orbit.ErrX)).
type BatchResult struct {
	Lease  orbit.AddressableLease
	Placed bool
	Err    error
}

// MaxBatch is the most references one LocateOrPlaceBatch call may carry.
const MaxBatch = 1000

// LocateOrPlaceBatch answers many references in one call, each as
// LocateOrPlace would, in order. The error is for the call as a whole (too
// many references, server unreachable); per-reference failures are in the
// results.
func (c *Client) LocateOrPlaceBatch(ctx context.Context, refs []orbit.AddressableReference) ([]BatchResult, error) {
	const op = "LocateOrPlaceBatch"
	if err := c.checkOpen(op); err != nil {
		return nil, err
	}
	if len(refs) > MaxBatch {
		return nil, mapError(op, status.Errorf(codes.InvalidArgument, "references: %d in one batch, the limit is %d", len(refs), MaxBatch))
	}
	req := &orbitv1.LocateOrPlaceBatchRequest{References: make([]*orbitv1.AddressableReference, len(refs))}
	out := make([]BatchResult, len(refs))
	for i, r := range refs {
		r.Namespace = c.withNamespace(r.Namespace)
		p, err := refToProto(r)
		if err != nil {
			return nil, fmt.Errorf("orbit client: %s: references[%d]: %w", op, i, err)
		}
		req.References[i] = p
	}
	resp, err := c.addrs.LocateOrPlaceBatch(ctx, req)
	if err != nil {
		return nil, mapError(op, err)
	}
	if len(resp.GetResults()) != len(refs) {
		return nil, fmt.Errorf("orbit client: %s: %d results for %d references: %w", op, len(resp.GetResults()), len(refs), ErrBadResponse)
	}
	for i, res := range resp.GetResults() {
		if res.GetCode() != 0 {
			out[i].Err = mapError(op, status.Error(codes.Code(res.GetCode()), res.GetMessage()))
			continue
		}
		l, err := leaseFromProto(fmt.Sprintf("results[%d].lease", i), res.GetLease())
		if err != nil {
			out[i].Err = fmt.Errorf("orbit client: %s: %w", op, err)
			continue
		}
		out[i].Lease, out[i].Placed = l, res.GetPlaced()
	}
	return out, nil
}
