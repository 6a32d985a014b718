package flash

import (
	"bytes"
	"testing"
)

func TestValueCodecs(t *testing.T) {
	big := bytes.Repeat([]byte("orbit lease record "), 50)
	for _, name := range []string{"None", "Lz4", "Zstd"} {
		c, err := newCompressor(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range [][]byte{big, []byte("a 30-byte lease record value.."), {}} {
			p := c.encode(v)
			wantCompressed := name != "None" && len(v) >= minCompress
			if (p.codec != codecRaw) != wantCompressed {
				t.Fatalf("%s: %d-byte value stored with codec %d", name, len(v), p.codec)
			}
			if wantCompressed && len(p.data) >= len(v)/2 {
				t.Fatalf("%s: %d bytes compressed to %d", name, len(v), len(p.data))
			}
			r, err := decodeHeader(encodeRecord(42, "label", p))
			if err != nil || r.version != 42 || r.label != "label" {
				t.Fatalf("%s: header = %+v, %v", name, r, err)
			}
			got, err := c.value(r)
			if err != nil || !bytes.Equal(got, v) {
				t.Fatalf("%s: value does not round-trip: %v", name, err)
			}
		}
		c.close()
	}
	for _, bad := range [][]byte{nil, {0}, {9, 1, 0}, {1, 1, 0, 200}} {
		if _, err := decodeHeader(bad); err == nil {
			t.Fatalf("decodeHeader(%v) accepted a damaged record", bad)
		}
	}
}
