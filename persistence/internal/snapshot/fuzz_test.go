package snapshot

import (
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// seedFiles returns small valid snapshots in every compression.
func seedFiles(f *testing.F) [][]byte {
	dir := f.TempDir()
	var out [][]byte
	for i, c := range allCompressions {
		for _, n := range []int{0, 1, 5} {
			path := filepath.Join(dir, "seed")
			ents := sampleEntries(rand.New(rand.NewPCG(uint64(i), uint64(n))), n)
			if _, err := Write(path, c, slices.Values(ents)); err != nil {
				f.Fatal(err)
			}
			b, err := os.ReadFile(path)
			if err != nil {
				f.Fatal(err)
			}
			out = append(out, b)
		}
	}
	return out
}

// fuzzRead reads b as a snapshot file: it must not panic, and any error must
// be ErrCorrupt. A successful read must survive a rewrite unchanged.
func fuzzRead(t *testing.T, path string, b []byte) {
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	got, st, err := readAll(path)
	if err != nil {
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("error that is not ErrCorrupt: %v", err)
		}
		return
	}
	again := path + ".again"
	if _, err := Write(again, st.Compression, slices.Values(got)); err != nil {
		t.Fatal(err)
	}
	equalEntries(t, mustRead(t, again), got)
}

// FuzzRead feeds arbitrary files to Read.
func FuzzRead(f *testing.F) {
	for _, b := range seedFiles(f) {
		f.Add(b)
	}
	f.Add([]byte("ORBITSNP"))
	f.Add([]byte{})
	path := filepath.Join(f.TempDir(), "snap")
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzzRead(t, path, b)
	})
}

// FuzzDecode feeds arbitrary bodies, wrapped in a valid header and trailer,
// to Read, so that the fuzzer reaches the decompressors and the record
// parser rather than stopping at the file checksum.
func FuzzDecode(f *testing.F) {
	for _, b := range seedFiles(f) {
		id := b[10]
		f.Add(id, uint64(0), bodyOf(b))
		f.Add(id, uint64(5), bodyOf(b))
	}
	path := filepath.Join(f.TempDir(), "snap")
	f.Fuzz(func(t *testing.T, id byte, entries uint64, body []byte) {
		c := compressionIDs[int(id)%len(compressionIDs)]
		fuzzRead(t, path, reframe(c, body, entries))
	})
}
