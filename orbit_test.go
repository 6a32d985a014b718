package orbit

import (
	"errors"
	"testing"
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
