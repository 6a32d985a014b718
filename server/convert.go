package server

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/orbit-go/orbit"
	orbitv1 "github.com/orbit-go/orbit/api/orbit/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// reference converts a request reference, defaulting the namespace.
func (s *Server) reference(r *orbitv1.AddressableReference) (orbit.AddressableReference, error) {
	if r == nil {
		return orbit.AddressableReference{}, status.Error(codes.InvalidArgument, "reference: must be set")
	}
	ref := orbitv1.ReferenceFromProto(r, s.namespace)
	if err := ref.Validate(); err != nil {
		return ref, toStatus(err)
	}
	return ref, nil
}

func leaseToProto(l orbit.AddressableLease) *orbitv1.AddressableLease {
	return &orbitv1.AddressableLease{
		Reference: orbitv1.ReferenceToProto(l.Reference), Node: orbitv1.NodeIDToProto(l.Node),
		CreatedAt: ts(l.CreatedAt), RenewAt: ts(l.RenewAt), ExpiresAt: ts(l.ExpiresAt), Epoch: l.Epoch,
		NodeIncarnation: l.NodeIncarnation,
	}
}

// nodeID converts a request node id, defaulting the namespace.
func (s *Server) nodeID(id *orbitv1.NodeId) (orbit.NodeID, error) {
	if id == nil {
		return orbit.NodeID{}, status.Error(codes.InvalidArgument, "node: must be set")
	}
	n := orbit.NodeID{Namespace: s.namespaceOr(id.GetNamespace()), Key: id.GetKey()}
	if err := n.Validate(); err != nil {
		return n, toStatus(err)
	}
	return n, nil
}

var statusNames = map[orbit.NodeStatus]orbitv1.NodeStatus{
	orbit.NodeStarting: orbitv1.NodeStatus_NODE_STATUS_STARTING, orbit.NodeActive: orbitv1.NodeStatus_NODE_STATUS_ACTIVE,
	orbit.NodeDraining: orbitv1.NodeStatus_NODE_STATUS_DRAINING, orbit.NodeStopped: orbitv1.NodeStatus_NODE_STATUS_STOPPED,
}

// nodeToProto converts a node for listing: the challenge token is never sent.
func nodeToProto(n orbit.NodeInfo) *orbitv1.Node {
	return &orbitv1.Node{
		Id: orbitv1.NodeIDToProto(n.ID), Url: n.URL, Status: statusNames[n.Status], ExpiresAt: ts(n.Lease.ExpiresAt),
		Incarnation: n.Lease.Incarnation, Owner: n.Owner,
		Capabilities: &orbitv1.NodeCapabilities{
			AddressableTypes: n.Capabilities.AddressableTypes,
			MaxAddressables:  int32(n.Capabilities.MaxAddressables), Tags: n.Capabilities.Tags,
		},
	}
}

func nodeLeaseToProto(l orbit.NodeLease) *orbitv1.NodeLease {
	return &orbitv1.NodeLease{ExpiresAt: ts(l.ExpiresAt), RenewAt: ts(l.RenewAt), ChallengeToken: l.ChallengeToken, Incarnation: l.Incarnation}
}

// toStatus maps a persistence error to a gRPC status with a clear message.
//
// The code says what the caller may do: the semantic sentinels first (bad
// argument, absent, fenced, conflict, capacity, unsupported, corrupt), then
// DeadlineExceeded (the backend or the caller's deadline ran out), then
// Unavailable for any backend failure, and Canceled last: a backend error
// whose chain keeps a cancelled dial (the Redis client's, after a
// partition heals) is a backend failure, not a cancellation by the caller,
// whose own cancellation gRPC reports to it anyway.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	code := codes.Internal
	switch {
	case errors.Is(err, orbit.ErrInvalidArgument):
		code = codes.InvalidArgument
	case errors.Is(err, orbit.ErrNotFound):
		code = codes.NotFound
	case errors.Is(err, orbit.ErrFenced):
		code = codes.FailedPrecondition
	case errors.Is(err, orbit.ErrConflict):
		code = codes.Aborted
	case errors.Is(err, orbit.ErrCapacity):
		code = codes.ResourceExhausted
	case errors.Is(err, orbit.ErrUnsupported):
		code = codes.Unimplemented
	case errors.Is(err, orbit.ErrCorrupt):
		code = codes.DataLoss
	case errors.Is(err, context.DeadlineExceeded):
		code = codes.DeadlineExceeded
	case errors.Is(err, orbit.ErrUnavailable), errors.Is(err, orbit.ErrClosed):
		code = codes.Unavailable
	case errors.Is(err, context.Canceled):
		code = codes.Canceled
	}
	return status.Error(code, err.Error())
}

// The protobuf runtime rejects invalid UTF-8 in proto3 string fields while
// decoding, before any handler or interceptor runs, and gRPC reports that as
// Internal. The codec below lets such a request through and remembers it;
// the interceptors then answer InvalidArgument naming the field, which is
// what a client sent a bad string deserves.

// lenientCodec is one server's codec; bad maps a request message (pointer)
// to its decoding error until an interceptor takes it. Every message the
// server decodes passes through decodeCheckUnary or checkedStream.RecvMsg,
// which take its entry whatever the outcome, so the map holds only the
// messages being decoded right now.
type lenientCodec struct{ bad sync.Map }

// pending is how many decoding errors are held (tests: 0 when idle).
func (c *lenientCodec) pending() int {
	n := 0
	c.bad.Range(func(_, _ any) bool { n++; return true })
	return n
}

func (*lenientCodec) Name() string { return "proto" }

func (*lenientCodec) Marshal(v any) ([]byte, error) {
	m, ok := v.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("orbit codec: %T is not a proto message", v)
	}
	return proto.Marshal(m)
}

func (c *lenientCodec) Unmarshal(data []byte, v any) error {
	m, ok := v.(proto.Message)
	if !ok {
		return fmt.Errorf("orbit codec: %T is not a proto message", v)
	}
	if err := proto.Unmarshal(data, m); err != nil {
		c.bad.Store(v, err)
	}
	return nil
}

var _ encoding.Codec = (*lenientCodec)(nil)

// takeDecodeError returns (and forgets) the decoding error of req.
func (c *lenientCodec) takeDecodeError(req any) error {
	if err, ok := c.bad.LoadAndDelete(req); ok {
		return status.Errorf(codes.InvalidArgument, "malformed request: %v", err)
	}
	return nil
}

// decodeCheckUnary answers InvalidArgument for a request that failed to decode.
func (c *lenientCodec) decodeCheckUnary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if err := c.takeDecodeError(req); err != nil {
		return nil, err
	}
	return h(ctx, req)
}

type checkedStream struct {
	grpc.ServerStream
	codec *lenientCodec
}

// RecvMsg takes m's decoding error whatever RecvMsg answers: gRPC decodes
// into m and may still fail afterwards (a server-streaming call whose
// client sends a second message gets a cardinality error), and an error
// left in the map would stay there forever (the map is keyed by m).
func (c checkedStream) RecvMsg(m any) error {
	err := c.ServerStream.RecvMsg(m)
	decodeErr := c.codec.takeDecodeError(m)
	if err != nil {
		return err
	}
	return decodeErr
}

// decodeCheckStream answers InvalidArgument for a stream message that failed to decode.
func (c *lenientCodec) decodeCheckStream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	return h(srv, checkedStream{ServerStream: ss, codec: c})
}
