package snapshot

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/orbit-go/orbit/persistence/driver"
)

func TestRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	big := make([]byte, 1<<20)
	for i := range big {
		big[i] = byte(r.Uint32()) // incompressible
	}
	huge := bytes.Repeat([]byte("orbit snapshot "), 300_000) // 4.5 MB, beyond every buffer
	cases := map[string][]Entry{
		"empty":        nil,
		"one":          {{Key: "a/default/Greeter/suser-000123456", Value: leaseValue(1, 1), Version: 7}},
		"empty values": {{Key: "x", Value: []byte{}}, {Key: "y", Value: nil, Version: 1}, {Key: "", Value: []byte{}, Version: math.MaxUint64}},
		"binary keys":  {{Key: "\x00", Value: []byte{0}}, {Key: "\xff\xfe\x00k", Value: []byte{1, 2}, Version: 1 << 63}, {Key: strings.Repeat("\x80", 1000), Value: []byte("v")}},
		"large values": {{Key: "big", Value: big, Version: 1}, {Key: "small", Value: []byte("s")}, {Key: "huge", Value: huge},
			{Key: "window", Value: big[:readBufSize]}, {Key: "window+1", Value: big[:readBufSize+1]}, {Key: "direct", Value: big[:directValue]}},
		"many": sampleEntries(r, 20_000),
	}
	for _, c := range allCompressions {
		for name, ents := range cases {
			t.Run(string(c)+"/"+name, func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "snap")
				wst := mustWrite(t, path, c, ents)
				fi, err := os.Stat(path)
				if err != nil {
					t.Fatal(err)
				}
				if wst.Entries != len(ents) || wst.Bytes != fi.Size() || wst.Compression != c {
					t.Fatalf("Write stats %+v, want %d entries, %d bytes, %s", wst, len(ents), fi.Size(), c)
				}
				got, rst, err := readAll(path)
				if err != nil {
					t.Fatal(err)
				}
				if rst != wst {
					t.Fatalf("Read stats %+v, Write stats %+v", rst, wst)
				}
				equalEntries(t, got, ents)
				if tmp := tempFiles(t, path); len(tmp) != 0 {
					t.Fatalf("temporary files left: %v", tmp)
				}
			})
		}
	}
}

func TestOverwriteAndRelativePath(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	mustWrite(t, "snap", Zstd, sampleEntries(rand.New(rand.NewPCG(3, 4)), 100))
	want := []Entry{{Key: "only", Value: []byte("one"), Version: 2}}
	mustWrite(t, "snap", Gzip, want)
	equalEntries(t, mustRead(t, "snap"), want)
	if tmp := tempFiles(t, "snap"); len(tmp) != 0 {
		t.Fatalf("temporary files left: %v", tmp)
	}
}

func smallFile(t *testing.T, c Compression) (string, []byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "snap")
	mustWrite(t, path, c, sampleEntries(rand.New(rand.NewPCG(5, 6)), 6))
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, b
}

func TestTruncatedEveryOffset(t *testing.T) {
	for _, c := range allCompressions {
		t.Run(string(c), func(t *testing.T) {
			path, full := smallFile(t, c)
			for n := range len(full) {
				writeFile(t, path, full[:n])
				_, _, err := readAll(path)
				wantCorrupt(t, err, path, "file cut at "+itoa(n))
			}
		})
	}
}

func TestTruncatedRandomOffsetsBig(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, c := range allCompressions {
		t.Run(string(c), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "snap")
			mustWrite(t, path, c, countSeqEntries(30_000))
			full, _ := os.ReadFile(path)
			cut := filepath.Join(t.TempDir(), "cut")
			for range 200 {
				n := r.IntN(len(full))
				writeFile(t, cut, full[:n])
				calls := 0
				_, err := Read(cut, func(Entry) error { calls++; return nil })
				wantCorrupt(t, err, cut, "file cut at "+itoa(n))
				if calls != 0 {
					t.Fatalf("cut at %d: fn called %d times on a damaged file", n, calls)
				}
			}
		})
	}
}

func countSeqEntries(n int) []Entry {
	ents := make([]Entry, n)
	for i := range ents {
		ents[i] = Entry{Key: "a/default/Greeter/suser-" + itoa(i), Value: leaseValue(i, 1), Version: uint64(i)}
	}
	return ents
}

// Truncating the compressed body, with a trailer rebuilt to match, must
// still fail: the end marker and the decompressors catch it on their own.
func TestTruncatedBodyReframed(t *testing.T) {
	for _, c := range allCompressions {
		t.Run(string(c), func(t *testing.T) {
			path, full := smallFile(t, c)
			body := bodyOf(full)
			for n := range len(body) {
				writeFile(t, path, reframe(c, body[:n], 6))
				_, _, err := readAll(path)
				wantCorrupt(t, err, path, "body cut at "+itoa(n))
			}
			writeFile(t, path, reframe(c, body, 6))
			mustRead(t, path) // the reframing itself is sound
		})
	}
}

func TestFlippedByte(t *testing.T) {
	for _, c := range allCompressions {
		t.Run(string(c), func(t *testing.T) {
			path, full := smallFile(t, c)
			for i := range full {
				for _, mask := range []byte{0x01, 0xff} {
					b := bytes.Clone(full)
					b[i] ^= mask
					writeFile(t, path, b)
					_, _, err := readAll(path)
					wantCorrupt(t, err, path, "flipped byte "+itoa(i))
				}
			}
		})
	}
}

func TestInnerChecks(t *testing.T) {
	path, full := smallFile(t, None)
	body := bodyOf(full)
	check := func(name string, b []byte, want string) {
		t.Helper()
		writeFile(t, path, b)
		_, _, err := readAll(path)
		wantCorrupt(t, err, path, name)
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("%s: error %q does not say %q", name, err, want)
		}
	}
	check("trailer count", reframe(None, body, 7), "trailer counts 7")
	check("trailing data", reframe(None, append(bytes.Clone(body), 0), 6), "after the end marker")
	b := bytes.Clone(body)
	b[3] ^= 0x20 // inside the first key
	check("record byte", reframe(None, b, 6), "checksum over the uncompressed body")
	b = bytes.Clone(body)
	b[len(b)-5]++ // end marker count
	check("end count", reframe(None, b, 6), "end marker counts")
	check("huge key", reframe(None, []byte{0xff, 0xff, 0xff, 0xff, 0x0f}, 0), "bad length")
	check("huge value", reframe(None, []byte{2, 'k', 0xff, 0xff, 0xff, 0xff, 0x0f}, 0), "bad length")
	check("long value", reframe(None, []byte{2, 'k', 0xff, 0xff, 0xff, 0x7f, 1}, 0), "truncated body")
	check("varint overflow", reframe(None, bytes.Repeat([]byte{0xff}, 11), 0), "overflows")

	_, gz := smallFile(t, Gzip)
	check("after gzip", reframe(Gzip, append(bytes.Clone(bodyOf(gz)), 0x1f, 0x8b), 6), "data after the gzip member")
}

func TestHeaderErrorsNamePath(t *testing.T) {
	path, full := smallFile(t, Zstd)
	for _, tc := range []struct {
		at   int
		set  byte
		want string
	}{
		{0, 'X', "bad magic"},
		{8, 3, "unknown format version 3"},
		{10, 9, "unknown compression id 9"},
		{11, 1, "unknown flags"},
		{13, 1, "reserved"},
	} {
		b := bytes.Clone(full)
		b[tc.at] = tc.set
		writeFile(t, path, b)
		_, err := Read(path, func(Entry) error { t.Fatal("fn called"); return nil })
		wantCorrupt(t, err, path, tc.want)
		if !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("error %q does not say %q", err, tc.want)
		}
	}
	writeFile(t, path, nil)
	_, _, err := readAll(path)
	wantCorrupt(t, err, path, "empty file")
	writeFile(t, path, []byte("hello, this is not a snapshot at all, just text\n"))
	_, _, err = readAll(path)
	wantCorrupt(t, err, path, "text file")
}

func TestReadErrors(t *testing.T) {
	dir := t.TempDir()
	_, _, err := readAll(filepath.Join(dir, "missing"))
	if !errors.Is(err, fs.ErrNotExist) || errors.Is(err, ErrCorrupt) {
		t.Fatalf("missing file: %v, want fs.ErrNotExist and not ErrCorrupt", err)
	}
	if _, _, err := readAll(dir); err == nil || errors.Is(err, ErrCorrupt) {
		t.Fatalf("directory: %v, want a non-corrupt error", err)
	}
	path := filepath.Join(dir, "snap")
	mustWrite(t, path, Lz4, sampleEntries(rand.New(rand.NewPCG(9, 9)), 50))
	stop := errors.New("stop")
	calls := 0
	st, err := Read(path, func(Entry) error {
		if calls++; calls == 10 {
			return stop
		}
		return nil
	})
	if err != stop || calls != 10 || st.Entries != 9 {
		t.Fatalf("fn error: got %v after %d calls, %d entries; want the error itself after 10 calls", err, calls, st.Entries)
	}
	if ErrCorrupt.Error() != "corrupt snapshot" || !errors.Is(ErrCorrupt, driver.ErrCorrupt) {
		t.Fatalf("ErrCorrupt = %q", ErrCorrupt)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// TestSmallWindows decodes through tiny windows and readers that return
// short reads, so that every record, varint and end marker straddles a
// window boundary somewhere.
func TestSmallWindows(t *testing.T) {
	defer func(n int) { readBufSize = n }(readBufSize)
	r := rand.New(rand.NewPCG(11, 12))
	ents := sampleEntries(r, 40)
	ents = append(ents, Entry{Key: "big", Value: bytes.Repeat([]byte{7}, 5000)}, Entry{Key: "last"})
	for _, c := range allCompressions {
		path := filepath.Join(t.TempDir(), "snap")
		mustWrite(t, path, c, ents)
		full, _ := os.ReadFile(path)
		for size := 16; size <= 34; size++ {
			readBufSize = size
			for _, wrap := range []func(io.Reader) io.Reader{iotest.OneByteReader, iotest.HalfReader, iotest.DataErrReader} {
				var got []Entry
				_, err := decodeBody(path, c, formatVersion, wrap(bytes.NewReader(bodyOf(full))), uint64(len(ents)), func(e Entry) error {
					got = append(got, e)
					return nil
				})
				if err != nil {
					t.Fatalf("%s, window %d: %v", c, size, err)
				}
				equalEntries(t, got, ents)
			}
		}
	}
}

// TestReadsFormat1 reads a file of format version 1 (records without
// expire-at), built byte by byte as a build before version 2 wrote it: its
// entries come due at once.
func TestReadsFormat1(t *testing.T) {
	want := []Entry{
		{Key: "a/default/T/k1", Value: []byte("v1"), Version: 7, Label: "default/node-1"},
		{Key: "n/default/node-1", Value: []byte{}, Version: 9},
	}
	var body []byte
	for _, e := range want {
		body = binary.AppendUvarint(body, uint64(len(e.Key))+1)
		body = append(body, e.Key...)
		body = binary.AppendUvarint(body, uint64(len(e.Value)))
		body = append(body, e.Value...)
		body = binary.AppendUvarint(body, e.Version)
		body = binary.AppendUvarint(body, uint64(len(e.Label)))
		body = append(body, e.Label...)
	}
	crc := crc32.Checksum(body, castagnoli)
	body = append(body, 0)
	body = binary.AppendUvarint(body, uint64(len(want)))
	body = binary.LittleEndian.AppendUint32(body, crc)
	file := appendHeader(nil, 0) // compression None
	binary.LittleEndian.PutUint16(file[8:], formatV1)
	file = append(file, body...)
	file = appendTrailer(file, trailer{bodyLen: uint64(len(body)), entries: uint64(len(want)), fileCRC: crc32.Checksum(file, castagnoli)})
	path := filepath.Join(t.TempDir(), "v1")
	writeFile(t, path, file)
	for i := range want {
		want[i].ExpireAt = 1 // unknown: due at once
	}
	equalEntries(t, mustRead(t, path), want)
}
