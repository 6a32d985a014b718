package orbitv1

import "github.com/orbit-go/orbit"

// Conversions between the API's messages and the domain types of package orbit,
// shared by the server and the Go client. (Hand-written; not generated.)

// KeyToProto converts a typed addressable key.
func KeyToProto(k orbit.AddressableKey) *AddressableKey {
	switch k.Kind() {
	case orbit.KeyString:
		return &AddressableKey{Key: &AddressableKey_StringKey{StringKey: k.StringValue()}}
	case orbit.KeyInt32:
		return &AddressableKey{Key: &AddressableKey_Int32Key{Int32Key: int32(k.IntValue())}}
	case orbit.KeyInt64:
		return &AddressableKey{Key: &AddressableKey_Int64Key{Int64Key: k.IntValue()}}
	default:
		return &AddressableKey{Key: &AddressableKey_NoKey{NoKey: true}}
	}
}

// KeyFromProto converts a key message; an unset key is the "none" key.
func KeyFromProto(k *AddressableKey) orbit.AddressableKey {
	switch v := k.GetKey().(type) {
	case *AddressableKey_StringKey:
		return orbit.StringKey(v.StringKey)
	case *AddressableKey_Int32Key:
		return orbit.Int32Key(v.Int32Key)
	case *AddressableKey_Int64Key:
		return orbit.Int64Key(v.Int64Key)
	default:
		return orbit.NoKey()
	}
}

// ReferenceToProto converts a reference (no validation).
func ReferenceToProto(r orbit.AddressableReference) *AddressableReference {
	return &AddressableReference{Namespace: r.Namespace, Type: r.Type, Key: KeyToProto(r.Key)}
}

// ReferenceFromProto converts a reference message (no validation);
// defaultNamespace replaces an empty namespace.
func ReferenceFromProto(r *AddressableReference, defaultNamespace string) orbit.AddressableReference {
	ns := r.GetNamespace()
	if ns == "" {
		ns = defaultNamespace
	}
	return orbit.AddressableReference{Namespace: ns, Type: r.GetType(), Key: KeyFromProto(r.GetKey())}
}

// NodeIDToProto converts a node id.
func NodeIDToProto(id orbit.NodeID) *NodeId {
	return &NodeId{Namespace: id.Namespace, Key: id.Key}
}
