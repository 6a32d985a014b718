package snapshot

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

const benchEntries = 1_000_000

// benchData: 1M entries with ~33-byte keys like "a/default/Greeter/suser-000123456"
// and 70-byte values, either shaped like encoded lease records ("lease") or
// random ("random", incompressible). Built once: generating them is not what
// is measured.
var benchData = sync.OnceValue(func() map[string][]Entry {
	r := rand.New(rand.NewPCG(42, 42))
	lease := make([]Entry, benchEntries)
	random := make([]Entry, benchEntries)
	for i := range lease {
		key := fmt.Sprintf("a/default/Greeter/suser-%09d", i)
		lease[i] = Entry{Key: key, Value: leaseValue(i, uint64(i%5000)), Version: uint64(i%1000 + 1)}
		v := make([]byte, 70)
		for j := range v {
			v[j] = byte(r.Uint32())
		}
		random[i] = Entry{Key: key, Value: v, Version: r.Uint64N(1 << 20)}
	}
	return map[string][]Entry{"lease": lease, "random": random}
})

// rawSize is the size of the entries' keys and values.
func rawSize(ents []Entry) int64 {
	var n int64
	for _, e := range ents {
		n += int64(len(e.Key) + len(e.Value))
	}
	return n
}

func benchCases(b *testing.B, run func(b *testing.B, c Compression, ents []Entry)) {
	for _, values := range []string{"lease", "random"} {
		for _, c := range allCompressions {
			b.Run(string(c)+"/"+values, func(b *testing.B) {
				run(b, c, benchData()[values])
			})
		}
	}
}

// report adds MB/s (of keys and values), entries/s, the file size and the
// CPU time per operation (all goroutines, GC included) since cpu0.
func report(b *testing.B, ents []Entry, st Stats, cpu0 time.Duration) {
	b.SetBytes(rawSize(ents))
	sec := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(float64(len(ents))/sec, "entries/s")
	b.ReportMetric(float64(st.Bytes)/1e6, "file-MB")
	if cpu := cpuTime() - cpu0; cpu > 0 {
		b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/op")
	}
}

// BenchmarkWrite1M writes 1M entries, fsync and rename included.
func BenchmarkWrite1M(b *testing.B) {
	benchCases(b, func(b *testing.B, c Compression, ents []Entry) {
		path := filepath.Join(b.TempDir(), "snap")
		var st Stats
		b.ReportAllocs()
		b.ResetTimer()
		cpu0 := cpuTime()
		for b.Loop() {
			var err error
			if st, err = Write(path, c, slices.Values(ents)); err != nil {
				b.Fatal(err)
			}
		}
		report(b, ents, st, cpu0)
	})
}

// BenchmarkRead1M reads 1M entries, checksum pass included, from a file in
// the page cache.
func BenchmarkRead1M(b *testing.B) {
	benchCases(b, func(b *testing.B, c Compression, ents []Entry) {
		path := filepath.Join(b.TempDir(), "snap")
		if _, err := Write(path, c, slices.Values(ents)); err != nil {
			b.Fatal(err)
		}
		var st Stats
		b.ReportAllocs()
		b.ResetTimer()
		cpu0 := cpuTime()
		for b.Loop() {
			n := 0
			var err error
			st, err = Read(path, func(Entry) error { n++; return nil })
			if err != nil || n != len(ents) {
				b.Fatalf("read %d entries: %v", n, err)
			}
		}
		report(b, ents, st, cpu0)
		os.Remove(path)
	})
}
