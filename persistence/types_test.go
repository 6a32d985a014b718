package persistence

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestNodeIDTextRoundTrip(t *testing.T) {
	for _, id := range []NodeID{
		{"default", "node-1"}, {"ns/with/slash", "key%with%percent"}, {"ünïcode", "a b"}, {"%2F", "/"},
	} {
		got, err := ParseNodeID(id.String())
		if err != nil || got != id {
			t.Errorf("ParseNodeID(%q) = %+v, %v; want %+v", id.String(), got, err, id)
		}
	}
	for _, bad := range []string{"", "noslash", "/key", "ns/", "ns/%zz", "ns/%2"} {
		if _, err := ParseNodeID(bad); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("ParseNodeID(%q) = %v, want ErrInvalidArgument", bad, err)
		}
	}
}

func TestAddressableKeyText(t *testing.T) {
	for _, k := range []AddressableKey{NoKey(), StringKey("42"), Int32Key(42), Int64Key(-7), StringKey("s:x")} {
		got, err := ParseAddressableKey(k.String())
		if err != nil || got != k {
			t.Errorf("ParseAddressableKey(%q) = %+v, %v", k.String(), got, err)
		}
	}
	if StringKey("42").String() == Int32Key(42).String() || Int32Key(42).String() == Int64Key(42).String() {
		t.Fatal("typed keys must render differently")
	}
	for _, bad := range []string{"", "x:1", "i32:99999999999", "i64:nope"} {
		if _, err := ParseAddressableKey(bad); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("ParseAddressableKey(%q) = %v", bad, err)
		}
	}
}

func TestLeaseKeyRoundTrip(t *testing.T) {
	for _, r := range []AddressableReference{
		{"default", "Greeter", StringKey("user/1%")}, {"n/s", "T/y", Int32Key(-5)}, {"ns", "T", Int64Key(1 << 60)}, {"ns", "T", NoKey()},
	} {
		got, err := parseLeaseKey(leaseKey(r))
		if err != nil || got != r {
			t.Errorf("parseLeaseKey(leaseKey(%v)) = %+v, %v", r, got, err)
		}
	}
	// Keys of different namespaces never share a listing prefix.
	a := leaseKey(AddressableReference{"ns", "T", NoKey()})
	if strings.HasPrefix(a, leaseNamespacePrefix("n")) {
		t.Fatal("namespace n lists keys of namespace ns")
	}
}

func TestLeaseCodecRoundTrip(t *testing.T) {
	now := time.Date(2026, 5, 6, 7, 8, 9, 123456789, time.UTC)
	for _, rec := range []leaseRecord{
		{AddressableLease: AddressableLease{Reference: AddressableReference{"default", "G", StringKey("k")}, Node: NodeID{"default", "n1"},
			CreatedAt: now, RenewAt: now.Add(5 * time.Second), ExpiresAt: now.Add(10 * time.Second), Epoch: uint64(now.UnixMicro())}},
		{Released: true, AddressableLease: AddressableLease{Reference: AddressableReference{"a", "G", Int64Key(9)}, Node: NodeID{"other", "n2"},
			CreatedAt: now, RenewAt: now.Add(-time.Nanosecond), ExpiresAt: now.Add(time.Hour + 7), Epoch: 3}},
	} {
		got, err := decodeLease(leaseKey(rec.Reference), encodeLease(rec))
		if err != nil || got.Released != rec.Released || !got.Equal(rec.AddressableLease) {
			t.Errorf("round trip of %+v = %+v, %v", rec, got, err)
		}
	}
}

func TestNodeCodecRoundTrip(t *testing.T) {
	now := time.Date(2026, 5, 6, 7, 8, 9, 1, time.UTC)
	n := NodeInfo{ID: NodeID{"default", "n1"}, URL: "grpc://h:1", Status: NodeDraining,
		Capabilities: NodeCapabilities{AddressableTypes: []string{"A", "B"}, MaxAddressables: 7, Tags: map[string]string{"z": "1", "a": "2"}},
		Lease:        NodeLease{ExpiresAt: now, RenewAt: now.Add(-time.Second), ChallengeToken: "tok"}}
	got, err := decodeNode(encodeNode(n))
	if err != nil || got.ID != n.ID || got.URL != n.URL || got.Status != n.Status || !got.Lease.ExpiresAt.Equal(now) ||
		got.Capabilities.Tags["a"] != "2" || len(got.Capabilities.AddressableTypes) != 2 || got.Capabilities.MaxAddressables != 7 {
		t.Fatalf("node round trip = %+v, %v", got, err)
	}
}

// FuzzDecode: no input makes the decoders panic; bad input is ErrCorrupt.
func FuzzDecode(f *testing.F) {
	now := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	f.Add(encodeLease(leaseRecord{AddressableLease: AddressableLease{Reference: AddressableReference{"d", "T", NoKey()}, Node: NodeID{"d", "n"},
		CreatedAt: now, RenewAt: now, ExpiresAt: now, Epoch: 1}}), "a/d/T/n")
	f.Add(encodeNode(NodeInfo{ID: NodeID{"d", "n"}, Status: NodeActive, Lease: NodeLease{ExpiresAt: now}}), "a/d/T/s%2F")
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
