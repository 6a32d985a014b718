package persistence

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestLeaseKeyRoundTrip(t *testing.T) {
	for _, r := range []AddressableReference{
		{Namespace: "default", Type: "Greeter", Key: StringKey("user/1%")}, {Namespace: "n/s", Type: "T/y", Key: Int32Key(-5)},
		{Namespace: "ns", Type: "T", Key: Int64Key(1 << 60)}, {Namespace: "ns", Type: "T", Key: NoKey()},
	} {
		got, err := parseLeaseKey(leaseKey(r))
		if err != nil || got != r {
			t.Errorf("parseLeaseKey(leaseKey(%v)) = %+v, %v", r, got, err)
		}
	}
	// Keys of different namespaces never share a listing prefix.
	a := leaseKey(AddressableReference{Namespace: "ns", Type: "T", Key: NoKey()})
	if strings.HasPrefix(a, leaseNamespacePrefix("n")) {
		t.Fatal("namespace n lists keys of namespace ns")
	}
}

func TestLeaseCodecRoundTrip(t *testing.T) {
	now := time.Date(2026, 5, 6, 7, 8, 9, 123456789, time.UTC)
	for _, rec := range []leaseRecord{
		{AddressableLease: AddressableLease{Reference: AddressableReference{Namespace: "default", Type: "G", Key: StringKey("k")}, Node: NodeID{Namespace: "default", Key: "n1"},
			CreatedAt: now, RenewAt: now.Add(5 * time.Second), ExpiresAt: now.Add(10 * time.Second), Epoch: uint64(now.UnixMicro())}},
		{Released: true, AddressableLease: AddressableLease{Reference: AddressableReference{Namespace: "a", Type: "G", Key: Int64Key(9)}, Node: NodeID{Namespace: "other", Key: "n2"},
			CreatedAt: now, RenewAt: now.Add(-time.Nanosecond), ExpiresAt: now.Add(time.Hour + 7), Epoch: 3}},
		{AddressableLease: AddressableLease{Reference: AddressableReference{Namespace: "default", Type: "G", Key: NoKey()}, Node: NodeID{Namespace: "default", Key: "n3"},
			CreatedAt: now, RenewAt: now.Add(time.Second), ExpiresAt: now.Add(2 * time.Second), Epoch: uint64(now.UnixMicro()) + 4, NodeIncarnation: 1<<63 + 12345}},
	} {
		got, err := decodeLease(leaseKey(rec.Reference), encodeLease(rec))
		if err != nil || got.Released != rec.Released || !got.Equal(rec.AddressableLease) {
			t.Errorf("round trip of %+v = %+v, %v", rec, got, err)
		}
	}
}

func TestNodeCodecRoundTrip(t *testing.T) {
	now := time.Date(2026, 5, 6, 7, 8, 9, 1, time.UTC)
	n := NodeInfo{ID: NodeID{Namespace: "default", Key: "n1"}, URL: "grpc://h:1", Status: NodeDraining,
		Capabilities: NodeCapabilities{AddressableTypes: []string{"A", "B"}, MaxAddressables: 7, Tags: map[string]string{"z": "1", "a": "2"}},
		Lease:        NodeLease{ExpiresAt: now, RenewAt: now.Add(-time.Second), ChallengeToken: "tok"}}
	got, err := decodeNode(encodeNode(n))
	if err != nil || got.ID != n.ID || got.URL != n.URL || got.Status != n.Status || !got.Lease.ExpiresAt.Equal(now) ||
		got.Capabilities.Tags["a"] != "2" || len(got.Capabilities.AddressableTypes) != 2 || got.Capabilities.MaxAddressables != 7 {
		t.Fatalf("node round trip = %+v, %v", got, err)
	}
	if got.Lease.Incarnation != 0 || got.Owner != "" {
		t.Fatalf("a node without incarnation decodes with %d, %q", got.Lease.Incarnation, got.Owner)
	}
	legacy := len(encodeNode(n))
	n.Lease.Incarnation, n.Owner = 1<<62+9, "token:node-a"
	enc := encodeNode(n)
	if got, err = decodeNode(enc); err != nil || got.Lease.Incarnation != n.Lease.Incarnation || got.Owner != n.Owner {
		t.Fatalf("incarnation round trip = %d %q, %v", got.Lease.Incarnation, got.Owner, err)
	}
	if len(enc) <= legacy {
		t.Fatal("incarnation and owner were not encoded")
	}
}

// FuzzDecode: no input makes the decoders panic; bad input is ErrCorrupt.
func FuzzDecode(f *testing.F) {
	now := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	f.Add(encodeLease(leaseRecord{AddressableLease: AddressableLease{Reference: AddressableReference{Namespace: "d", Type: "T", Key: NoKey()}, Node: NodeID{Namespace: "d", Key: "n"},
		CreatedAt: now, RenewAt: now, ExpiresAt: now, Epoch: 1}}), "a/d/T/n")
	f.Add(encodeNode(NodeInfo{ID: NodeID{Namespace: "d", Key: "n"}, Status: NodeActive, Lease: NodeLease{ExpiresAt: now}}), "a/d/T/s%2F")
	f.Fuzz(func(t *testing.T, b []byte, key string) {
		if _, err := decodeLease(key, b); err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("decodeLease error %v is not ErrCorrupt", err)
		}
		if _, err := decodeNode(b); err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("decodeNode error %v is not ErrCorrupt", err)
		}
		_, _ = decodeIndex(b)
		_, _ = parseLeaseKey(key)
	})
}

func TestErrorCode(t *testing.T) {
	if ErrorCode(nil) != "" || ErrorCode(errors.New("x")) != "unknown" {
		t.Fatal("ErrorCode of nil / unclassified")
	}
	err := &LeaseConflictError{Current: AddressableLease{Epoch: 3}}
	if ErrorCode(err) != "conflict" || !errors.Is(err, ErrConflict) {
		t.Fatalf("LeaseConflictError code %q", ErrorCode(err))
	}
	if !errors.Is(ErrNotAvailableInBuild, ErrUnsupported) {
		t.Fatal("ErrNotAvailableInBuild must be ErrUnsupported")
	}
}
