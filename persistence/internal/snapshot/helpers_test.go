package snapshot

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"iter"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/orbit-go/orbit/persistence/driver"
)

var allCompressions = []Compression{None, Gzip, Lz4, Zstd}

// readAll reads the snapshot at path into a slice.
func readAll(path string) ([]Entry, Stats, error) {
	var out []Entry
	st, err := Read(path, func(e Entry) error {
		out = append(out, e)
		return nil
	})
	return out, st, err
}

func mustWrite(t testing.TB, path string, c Compression, ents []Entry) Stats {
	t.Helper()
	st, err := Write(path, c, slices.Values(ents))
	if err != nil {
		t.Fatalf("Write(%s, %s): %v", path, c, err)
	}
	return st
}

func mustRead(t testing.TB, path string) []Entry {
	t.Helper()
	got, _, err := readAll(path)
	if err != nil {
		t.Fatalf("Read(%s): %v", path, err)
	}
	return got
}

func equalEntries(t testing.TB, got, want []Entry) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d entries, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Key != w.Key || !bytes.Equal(g.Value, w.Value) || g.Version != w.Version || g.Label != w.Label || g.ExpireAt != w.ExpireAt {
			t.Fatalf("entry %d: got {%.40q, %d value bytes, v%d, label %q, expire-at %d}, want {%.40q, %d value bytes, v%d, label %q, expire-at %d}",
				i, g.Key, len(g.Value), g.Version, g.Label, g.ExpireAt, w.Key, len(w.Value), w.Version, w.Label, w.ExpireAt)
		}
		if g.Value == nil {
			t.Fatalf("entry %d: nil Value, want a non-nil slice", i)
		}
	}
}

// wantCorrupt fails unless err reports a corrupt snapshot at path.
func wantCorrupt(t testing.TB, err error, path, what string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: Read succeeded, want ErrCorrupt", what)
	}
	if !errors.Is(err, ErrCorrupt) || !errors.Is(err, driver.ErrCorrupt) {
		t.Fatalf("%s: error %q does not wrap ErrCorrupt and driver.ErrCorrupt", what, err)
	}
	if !strings.Contains(err.Error(), path) {
		t.Fatalf("%s: error %q does not name the path %s", what, err, path)
	}
}

// tempFiles lists the temporary files of Writes to path.
func tempFiles(t testing.TB, path string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// sampleEntries makes n entries with binary keys and values of varied sizes.
func sampleEntries(r *rand.Rand, n int) []Entry {
	ents := make([]Entry, n)
	for i := range ents {
		key := fmt.Sprintf("k/%d/", i)
		if i%3 == 0 {
			key += string([]byte{0, 0xff, 0xfe, byte(i), '\n'}) // not UTF-8
		}
		val := make([]byte, r.IntN(200))
		for j := range val {
			val[j] = byte(r.IntN(8)) // compressible
		}
		ents[i] = Entry{Key: key, Value: val, Version: r.Uint64() >> r.IntN(64)}
		if i%2 == 0 {
			ents[i].Label = fmt.Sprintf("default/node-%d", i%5)
		}
		if i%4 != 1 {
			ents[i].ExpireAt = 1_760_000_000 + uint64(i)*7
		}
	}
	return ents
}

// leaseValue is a 70-byte value shaped like an encoded lease record.
func leaseValue(i int, seed uint64) []byte {
	b := make([]byte, 0, 70)
	b = append(b, 1, 0)
	b = binary.AppendUvarint(b, uint64(i%1000+1))
	now := uint64(1_760_000_000_000_000_000) + seed*1e9
	for k := range 3 {
		b = binary.BigEndian.AppendUint64(b, now+uint64(k)*30e9+uint64(i)*7919%1e9)
	}
	b = appendString(b, "default")
	b = appendString(b, "Greeter")
	b = append(b, 1)
	b = appendString(b, fmt.Sprintf("user-%09d", i))
	b = appendString(b, "default")
	b = appendString(b, fmt.Sprintf("node-%d", i%7))
	for len(b) < 70 {
		b = append(b, byte(i*31+len(b)))
	}
	return b[:70]
}

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// reframe wraps a body in a header and a trailer with valid checksums, so
// that Read's decoding checks are exercised on their own.
func reframe(c Compression, body []byte, entries uint64) []byte {
	id, _ := compressionID(c)
	b := appendHeader(nil, id)
	b = append(b, body...)
	return appendTrailer(b, trailer{
		bodyLen: uint64(len(body)),
		entries: entries,
		fileCRC: crc32.Checksum(b, castagnoli),
	})
}

// bodyOf returns the compressed body of a snapshot file.
func bodyOf(file []byte) []byte {
	return file[headerLen : len(file)-trailerLen]
}

func writeFile(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// countSeq yields n entries built by mk.
func countSeq(n int, mk func(i int) Entry) iter.Seq[Entry] {
	return func(yield func(Entry) bool) {
		for i := range n {
			if !yield(mk(i)) {
				return
			}
		}
	}
}
