package client

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/orbit-go/orbit"
	orbitv1 "github.com/orbit-go/orbit/api/orbit/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func TestReferenceRoundTrip(t *testing.T) {
	for _, key := range []orbit.AddressableKey{
		orbit.NoKey(), orbit.StringKey("a/b%c"), orbit.StringKey(""),
		orbit.Int32Key(math.MinInt32), orbit.Int32Key(42), orbit.Int64Key(math.MaxInt64),
	} {
		ref := orbit.AddressableReference{Namespace: "ns", Type: "Greeter", Key: key}
		p, err := refToProto(ref)
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		back, err := refFromProto("reference", p)
		if err != nil || back != ref {
			t.Fatalf("%s: round trip = %+v, %v", key, back, err)
		}
	}
	// An unset key oneof is the none key, as on the server.
	back, err := refFromProto("r", &orbitv1.AddressableReference{Type: "T"})
	if err != nil || back.Key.Kind() != orbit.KeyNone {
		t.Fatalf("unset key: %+v %v", back, err)
	}
	if _, err := refFromProto("r", nil); !errors.Is(err, ErrBadResponse) {
		t.Fatalf("nil reference: %v", err)
	}
}

func TestReferenceToProtoRejectsWhatTheWireCannotCarry(t *testing.T) {
	bad := string([]byte{0xff, 0xfe})
	for field, ref := range map[string]orbit.AddressableReference{
		"reference.namespace": {Namespace: bad, Type: "T"},
		"reference.type":      {Type: bad},
		"reference.key":       {Type: "T", Key: orbit.StringKey(bad)},
	} {
		_, err := refToProto(ref)
		if !errors.Is(err, orbit.ErrInvalidArgument) || !strings.Contains(err.Error(), field) {
			t.Fatalf("%s: %v", field, err)
		}
	}
}

func TestLeaseFromProto(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Microsecond)
	ref, _ := refToProto(orbit.AddressableReference{Namespace: "ns", Type: "T", Key: orbit.StringKey("k")})
	p := &orbitv1.AddressableLease{
		Reference: ref, Node: &orbitv1.NodeId{Namespace: "ns", Key: "n"}, CreatedAt: timestamppb.New(now),
		RenewAt: timestamppb.New(now.Add(time.Second)), ExpiresAt: timestamppb.New(now.Add(2 * time.Second)), Epoch: 9,
	}
	l, err := leaseFromProto("lease", p)
	if err != nil {
		t.Fatal(err)
	}
	if l.Epoch != 9 || l.Node != (orbit.NodeID{Namespace: "ns", Key: "n"}) || !l.ExpiresAt.Equal(now.Add(2*time.Second)) {
		t.Fatalf("lease = %+v", l)
	}
	if err := l.Validate(); err != nil {
		t.Fatalf("converted lease invalid: %v", err)
	}
	p.Node = nil
	if _, err := leaseFromProto("lease", p); !errors.Is(err, ErrBadResponse) || !strings.Contains(err.Error(), "lease.node") {
		t.Fatalf("missing node: %v", err)
	}
	p.Node = &orbitv1.NodeId{Key: "n"}
	p.ExpiresAt = &timestamppb.Timestamp{Seconds: math.MaxInt64}
	if _, err := leaseFromProto("lease", p); !errors.Is(err, ErrBadResponse) {
		t.Fatalf("bad timestamp: %v", err)
	}
	if _, err := nodeLeaseFromProto("lease", &orbitv1.NodeLease{}); !errors.Is(err, ErrBadResponse) {
		t.Fatalf("node lease without expiry: %v", err)
	}
}

func TestCapabilitiesAndNodes(t *testing.T) {
	caps := orbit.NodeCapabilities{AddressableTypes: []string{"A", "B"}, MaxAddressables: 10, Tags: map[string]string{"zone": "z1"}}
	p, err := capsToProto(caps)
	if err != nil {
		t.Fatal(err)
	}
	back := capsFromProto(p)
	if fmt.Sprint(back) != fmt.Sprint(caps) {
		t.Fatalf("caps round trip %+v", back)
	}
	if _, err := capsToProto(orbit.NodeCapabilities{MaxAddressables: -1}); !errors.Is(err, orbit.ErrInvalidArgument) ||
		!strings.Contains(err.Error(), "capabilities.max_addressables") {
		t.Fatalf("negative max: %v", err)
	}
	if _, err := capsToProto(orbit.NodeCapabilities{MaxAddressables: math.MaxInt32 + 1}); !errors.Is(err, orbit.ErrInvalidArgument) {
		t.Fatalf("max overflow: %v", err)
	}
	n, err := nodeFromProto("node", &orbitv1.Node{
		Id: &orbitv1.NodeId{Namespace: "ns", Key: "k"}, Url: "u", Capabilities: p,
		Status: orbitv1.NodeStatus_NODE_STATUS_DRAINING, ExpiresAt: timestamppb.Now(),
	})
	if err != nil || n.Status != orbit.NodeDraining || n.URL != "u" || !n.Capabilities.Hosts("B") || n.Lease.ChallengeToken != "" {
		t.Fatalf("node = %+v, %v", n, err)
	}
}

func TestMapErrorCodes(t *testing.T) {
	cases := []struct {
		code codes.Code
		want error
	}{
		{codes.InvalidArgument, orbit.ErrInvalidArgument},
		{codes.NotFound, orbit.ErrNotFound},
		{codes.FailedPrecondition, orbit.ErrFenced},
		{codes.AlreadyExists, orbit.ErrConflict},
		{codes.Aborted, orbit.ErrConflict},
		{codes.Unavailable, orbit.ErrUnavailable},
		{codes.DeadlineExceeded, orbit.ErrUnavailable},
		{codes.DeadlineExceeded, context.DeadlineExceeded},
		{codes.Canceled, context.Canceled},
		{codes.ResourceExhausted, orbit.ErrCapacity},
		{codes.Unimplemented, orbit.ErrUnsupported},
		{codes.DataLoss, orbit.ErrCorrupt},
	}
	for _, tc := range cases {
		err := mapError("Op", status.Error(tc.code, "server said: field x"))
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: %v does not wrap %v", tc.code, err, tc.want)
		}
		var e *Error
		if !errors.As(err, &e) || e.Code != tc.code || e.Message != "server said: field x" || e.Op != "Op" {
			t.Errorf("%s: %#v", tc.code, err)
		}
		if status.Code(err) != tc.code || !strings.Contains(err.Error(), "server said: field x") {
			t.Errorf("%s: status.Code=%s msg=%q", tc.code, status.Code(err), err.Error())
		}
	}
	internal := mapError("Op", status.Error(codes.Internal, "x"))
	for _, sentinel := range []error{orbit.ErrUnavailable, orbit.ErrFenced, orbit.ErrInvalidArgument} {
		if errors.Is(internal, sentinel) {
			t.Errorf("Internal maps to %v", sentinel)
		}
	}
	if mapError("Op", nil) != nil {
		t.Error("nil error mapped to non-nil")
	}
	if err := mapError("Op", context.Canceled); !errors.Is(err, context.Canceled) || status.Code(err) != codes.Canceled {
		t.Errorf("context.Canceled: %v", err)
	}
	plain := errors.New("plain")
	if err := mapError("Op", plain); !errors.Is(err, plain) || !strings.Contains(err.Error(), "Op") {
		t.Errorf("plain error: %v", err)
	}
	if !permanent(mapError("x", status.Error(codes.FailedPrecondition, ""))) || permanent(mapError("x", status.Error(codes.Unavailable, ""))) {
		t.Error("permanent() misclassifies")
	}
}
