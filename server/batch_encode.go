package server

import (
	"time"

	"github.com/orbit-go/orbit"
	orbitv1 "github.com/orbit-go/orbit/api/orbit/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// batchEncoder builds the messages of one LocateOrPlaceBatch response from
// a few slabs sized for the batch, instead of nine allocations per
// located reference (result, lease, reference, key, key value, node id and
// three timestamps): the messages of one response live and die together,
// so one array each is as good as one object each and costs the garbage
// collector a hundredth of the work. A located lease reuses the request's
// own reference message, and the leases of one holder share its node id
// message (a message tree may share a sub-message; marshalling only reads).
//
// An encoder serves one response, from one goroutine.
type batchEncoder struct {
	results []orbitv1.LocateOrPlaceResult
	leases  []orbitv1.AddressableLease
	stamps  []timestamppb.Timestamp
	nodes   []*orbitv1.NodeId // the holders seen so far; few per batch
}

// maxSharedNodes bounds the holders whose node id messages an encoder
// shares; the leases of further holders get their own.
const maxSharedNodes = 16

func newBatchEncoder(n int) *batchEncoder {
	return &batchEncoder{
		results: make([]orbitv1.LocateOrPlaceResult, n),
		leases:  make([]orbitv1.AddressableLease, 0, n),
		stamps:  make([]timestamppb.Timestamp, 0, 3*n),
	}
}

// result is the i-th result message (i < the batch size given to
// newBatchEncoder).
func (e *batchEncoder) result(i int) *orbitv1.LocateOrPlaceResult { return &e.results[i] }

// lease converts l held by holder. ref, when not nil, is the request's
// reference message for l, already carrying l's namespace, and becomes the
// lease's reference.
func (e *batchEncoder) lease(l orbit.AddressableLease, ref *orbitv1.AddressableReference, holder orbit.NodeInfo) *orbitv1.AddressableLease {
	if ref == nil {
		ref = orbitv1.ReferenceToProto(l.Reference)
	}
	e.leases = append(e.leases, orbitv1.AddressableLease{
		Reference: ref, Node: e.node(l.Node),
		CreatedAt: e.stamp(l.CreatedAt), RenewAt: e.stamp(l.RenewAt), ExpiresAt: e.stamp(l.ExpiresAt),
		Epoch: l.Epoch, NodeIncarnation: l.NodeIncarnation, NodeUrl: holder.URL,
	})
	return &e.leases[len(e.leases)-1]
}

// stamp converts t as ts does: nil for the zero time.
func (e *batchEncoder) stamp(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	if len(e.stamps) == cap(e.stamps) { // never with three per lease; kept safe
		return timestamppb.New(t)
	}
	e.stamps = append(e.stamps, timestamppb.Timestamp{Seconds: t.Unix(), Nanos: int32(t.Nanosecond())})
	return &e.stamps[len(e.stamps)-1]
}

func (e *batchEncoder) node(id orbit.NodeID) *orbitv1.NodeId {
	for _, n := range e.nodes {
		if n.Key == id.Key && n.Namespace == id.Namespace {
			return n
		}
	}
	n := orbitv1.NodeIDToProto(id)
	if len(e.nodes) < maxSharedNodes {
		e.nodes = append(e.nodes, n)
	}
	return n
}

// echoable reports whether the request reference r can stand for the
// reference it parsed into (namespace defaulted) in a response: only when
// its key is set, so that the echo says the same as ReferenceToProto would.
// It fills in the defaulted namespace.
func echoable(r *orbitv1.AddressableReference, parsed orbit.AddressableReference) *orbitv1.AddressableReference {
	if r.GetKey().GetKey() == nil {
		return nil
	}
	r.Namespace = parsed.Namespace
	return r
}
