package client

import (
	"math"
	"time"
	"unicode/utf8"

	"github.com/orbit-go/orbit"
	orbitv1 "github.com/orbit-go/orbit/api/orbit/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Conversions between the domain types of package orbit (the client's
// API) and the wire types of package orbitv1. Values going out are checked
// only for what the wire cannot carry (invalid UTF-8, which the protobuf
// runtime refuses to marshal, and out-of-range integers); everything else is
// validated by the server, whose InvalidArgument messages name the field.
// Values coming in are checked for the fields the client relies on.

func checkUTF8(field, s string) error {
	if !utf8.ValidString(s) {
		return invalid(field, "is not valid UTF-8")
	}
	return nil
}

func refToProto(r orbit.AddressableReference) (*orbitv1.AddressableReference, error) {
	if err := checkUTF8("reference.namespace", r.Namespace); err != nil {
		return nil, err
	}
	if err := checkUTF8("reference.type", r.Type); err != nil {
		return nil, err
	}
	switch r.Key.Kind() {
	case orbit.KeyNone, orbit.KeyInt64:
	case orbit.KeyString:
		if err := checkUTF8("reference.key", r.Key.StringValue()); err != nil {
			return nil, err
		}
	case orbit.KeyInt32:
		if n := r.Key.IntValue(); n < math.MinInt32 || n > math.MaxInt32 {
			return nil, invalid("reference.key", "int32 key %d is out of range", n)
		}
	default:
		return nil, invalid("reference.key", "unknown key kind %d", r.Key.Kind())
	}
	return orbitv1.ReferenceToProto(r), nil
}

func refFromProto(field string, r *orbitv1.AddressableReference) (orbit.AddressableReference, error) {
	if r == nil {
		return orbit.AddressableReference{}, malformed(field, "missing")
	}
	// An unset key is the "none" key, as on the server.
	return orbitv1.ReferenceFromProto(r, ""), nil
}

func nodeIDFromProto(field string, id *orbitv1.NodeId) (orbit.NodeID, error) {
	if id == nil || id.GetKey() == "" {
		return orbit.NodeID{}, malformed(field, "missing")
	}
	return orbit.NodeID{Namespace: id.GetNamespace(), Key: id.GetKey()}, nil
}

// timeFromProto converts a timestamp; nil (unset) becomes the zero time.
func timeFromProto(field string, t *timestamppb.Timestamp) (time.Time, error) {
	if t == nil {
		return time.Time{}, nil
	}
	if err := t.CheckValid(); err != nil {
		return time.Time{}, malformed(field, "%v", err)
	}
	return t.AsTime(), nil
}

func leaseFromProto(field string, l *orbitv1.AddressableLease) (orbit.AddressableLease, error) {
	if l == nil {
		return orbit.AddressableLease{}, malformed(field, "missing")
	}
	var out orbit.AddressableLease
	var err error
	if out.Reference, err = refFromProto(field+".reference", l.GetReference()); err != nil {
		return out, err
	}
	if out.Node, err = nodeIDFromProto(field+".node", l.GetNode()); err != nil {
		return out, err
	}
	if out.CreatedAt, err = timeFromProto(field+".created_at", l.GetCreatedAt()); err != nil {
		return out, err
	}
	if out.RenewAt, err = timeFromProto(field+".renew_at", l.GetRenewAt()); err != nil {
		return out, err
	}
	if out.ExpiresAt, err = timeFromProto(field+".expires_at", l.GetExpiresAt()); err != nil {
		return out, err
	}
	out.Epoch, out.NodeIncarnation, out.NodeURL = l.GetEpoch(), l.GetNodeIncarnation(), l.GetNodeUrl()
	return out, nil
}

func nodeLeaseFromProto(field string, l *orbitv1.NodeLease) (orbit.NodeLease, error) {
	if l == nil {
		return orbit.NodeLease{}, malformed(field, "missing")
	}
	var out orbit.NodeLease
	var err error
	if out.ExpiresAt, err = timeFromProto(field+".expires_at", l.GetExpiresAt()); err != nil {
		return out, err
	}
	if out.ExpiresAt.IsZero() {
		return out, malformed(field+".expires_at", "missing")
	}
	if out.RenewAt, err = timeFromProto(field+".renew_at", l.GetRenewAt()); err != nil {
		return out, err
	}
	out.ChallengeToken, out.Incarnation = l.GetChallengeToken(), l.GetIncarnation()
	return out, nil
}

func capsToProto(c orbit.NodeCapabilities) (*orbitv1.NodeCapabilities, error) {
	if c.MaxAddressables < 0 || c.MaxAddressables > math.MaxInt32 {
		return nil, invalid("capabilities.max_addressables", "is %d, must be in 0..%d", c.MaxAddressables, math.MaxInt32)
	}
	for _, t := range c.AddressableTypes {
		if err := checkUTF8("capabilities.addressable_types", t); err != nil {
			return nil, err
		}
	}
	for k, v := range c.Tags {
		if err := checkUTF8("capabilities.tags key", k); err != nil {
			return nil, err
		}
		if err := checkUTF8("capabilities.tags["+k+"]", v); err != nil {
			return nil, err
		}
	}
	out := &orbitv1.NodeCapabilities{MaxAddressables: int32(c.MaxAddressables)}
	if len(c.AddressableTypes) > 0 {
		out.AddressableTypes = append([]string(nil), c.AddressableTypes...)
	}
	if len(c.Tags) > 0 {
		out.Tags = make(map[string]string, len(c.Tags))
		for k, v := range c.Tags {
			out.Tags[k] = v
		}
	}
	return out, nil
}

func capsFromProto(c *orbitv1.NodeCapabilities) orbit.NodeCapabilities {
	out := orbit.NodeCapabilities{MaxAddressables: int(c.GetMaxAddressables())}
	if t := c.GetAddressableTypes(); len(t) > 0 {
		out.AddressableTypes = append([]string(nil), t...)
	}
	if tags := c.GetTags(); len(tags) > 0 {
		out.Tags = make(map[string]string, len(tags))
		for k, v := range tags {
			out.Tags[k] = v
		}
	}
	return out
}

var statusFromProto = map[orbitv1.NodeStatus]orbit.NodeStatus{
	orbitv1.NodeStatus_NODE_STATUS_STARTING: orbit.NodeStarting,
	orbitv1.NodeStatus_NODE_STATUS_ACTIVE:   orbit.NodeActive,
	orbitv1.NodeStatus_NODE_STATUS_DRAINING: orbit.NodeDraining,
	orbitv1.NodeStatus_NODE_STATUS_STOPPED:  orbit.NodeStopped,
}

// nodeFromProto converts a listed node. Its Lease carries ExpiresAt only:
// the server never lists challenge tokens. An unknown status becomes 0.
func nodeFromProto(field string, n *orbitv1.Node) (orbit.NodeInfo, error) {
	if n == nil {
		return orbit.NodeInfo{}, malformed(field, "missing")
	}
	var out orbit.NodeInfo
	var err error
	if out.ID, err = nodeIDFromProto(field+".id", n.GetId()); err != nil {
		return out, err
	}
	if out.Lease.ExpiresAt, err = timeFromProto(field+".expires_at", n.GetExpiresAt()); err != nil {
		return out, err
	}
	out.URL = n.GetUrl()
	out.Capabilities = capsFromProto(n.GetCapabilities())
	out.Status = statusFromProto[n.GetStatus()]
	out.Lease.Incarnation, out.Owner = n.GetIncarnation(), n.GetOwner()
	return out, nil
}
