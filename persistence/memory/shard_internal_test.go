package memory

import (
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// TestShardTableAgainstAMap applies random puts and deletes to one shard
// and checks it against a Go map after each step: lookups, the live count,
// and the records' keys and values, through resizes and tombstones. Keys
// are drawn from a small set so that deletes and re-creations are common,
// and a few share a hash to exercise probing past equal tags.
func TestShardTableAgainstAMap(t *testing.T) {
	seed := maphash.MakeSeed()
	var sh shard
	sh.init()
	want := map[string]string{}
	hash := func(k string) uint64 {
		if strings.HasPrefix(k, "same-") {
			return 42 << shardBits // equal tags, different keys
		}
		return maphash.String(seed, k)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for step := 0; step < 20000; step++ {
		k := fmt.Sprintf("k%d", rng.IntN(500))
		if rng.IntN(10) == 0 {
			k = fmt.Sprintf("same-%d", rng.IntN(5))
		}
		h := hash(k)
		if rng.IntN(3) == 0 {
			sh.del(h, k)
			delete(want, k)
		} else {
			v := strings.Repeat("v", rng.IntN(600)) + fmt.Sprint(step) // inline and big records
			sh.set(h, k, newRecord(k, []byte(v), uint64(step+1), nil, nil))
			want[k] = v
		}
		if sh.live != len(want) {
			t.Fatalf("step %d: live = %d, want %d", step, sh.live, len(want))
		}
		if step%97 == 0 {
			for wk, wv := range want {
				r, ok := sh.load(hash(wk), wk)
				if !ok || r.key() != wk || string(r.value()) != wv {
					t.Fatalf("step %d: load(%q) = %v %v", step, wk, ok, r)
				}
			}
		}
		if _, ok := want[k]; !ok {
			if _, found := sh.get(h, k); found {
				t.Fatalf("step %d: deleted key %q found", step, k)
			}
		}
	}
	if tbl := sh.table.Load(); sh.used*4 > len(tbl.slots)*3 {
		t.Fatalf("table over three quarters full: %d of %d slots used", sh.used, len(tbl.slots))
	}
}

// TestShardReadsDuringResizes: readers look up keys that stay present,
// without locks, while a writer inserts and deletes other keys (resizing
// the table many times) and rewrites the stable keys' records. Every read
// must find its key with one of the values it ever had.
func TestShardReadsDuringResizes(t *testing.T) {
	seed := maphash.MakeSeed()
	var sh shard
	sh.init()
	const stable = 64
	key := func(i int) string { return fmt.Sprintf("stable-%d", i) }
	for i := 0; i < stable; i++ {
		sh.set(maphash.String(seed, key(i)), key(i), newRecord(key(i), []byte(key(i)+"=0"), 1, nil, nil))
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	for r := 0; r < 2; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; !stop.Load(); n++ {
				k := key(n % stable)
				rec, ok := sh.load(maphash.String(seed, k), k)
				if !ok || rec.key() != k || !strings.HasPrefix(string(rec.value()), k+"=") {
					t.Errorf("read of %q during resizes: found=%v record=%v", k, ok, rec)
					return
				}
			}
		}()
	}
	for round := 0; round < 200; round++ {
		sh.mu.Lock()
		for i := 0; i < 200; i++ {
			k := fmt.Sprintf("churn-%d-%d", round, i)
			sh.set(maphash.String(seed, k), k, newRecord(k, nil, 1, nil, nil))
		}
		for i := 0; i < 200; i++ {
			k := fmt.Sprintf("churn-%d-%d", round, i)
			sh.del(maphash.String(seed, k), k)
		}
		i := round % stable
		sh.set(maphash.String(seed, key(i)), key(i), newRecord(key(i), []byte(fmt.Sprintf("%s=%d", key(i), round)), 2, nil, nil))
		sh.mu.Unlock()
	}
	stop.Store(true)
	wg.Wait()
	if sh.live != stable {
		t.Fatalf("live = %d, want %d", sh.live, stable)
	}
}

func TestRecordSizes(t *testing.T) {
	for _, n := range []int{0, 1, 15, 16, 17, 63, 64, 65, 480, 481, 5000} {
		k := "key"
		v := []byte(strings.Repeat("x", n))
		r := newRecord(k, v, 7, nil, nil)
		if r.key() != k || string(r.value()) != string(v) || r.version != 7 {
			t.Fatalf("value of %d bytes: key %q, %d value bytes, version %d", n, r.key(), len(r.value()), r.version)
		}
		if got := r.value(); got == nil || cap(got) != len(got) {
			t.Fatalf("value of %d bytes: nil or extensible slice (cap %d)", n, cap(got))
		}
	}
	if r := newRecord("", nil, 1, nil, nil); r.key() != "" || len(r.value()) != 0 {
		t.Fatal("empty record")
	}
}
