package redis_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/orbit-go/orbit/internal/benchutil"
	"github.com/orbit-go/orbit/internal/testbackend/redistest"
	"github.com/orbit-go/orbit/persistence"
	"github.com/orbit-go/orbit/persistence/redis"
)

// Hand-written equivalents of Orbit's operations with the raw client: the
// fewest requests a client needs for an atomic place with a node index and
// a fenced renewal, on the same server, in the same run.
var (
	rawPlace = rueidis.NewLuaScript(`
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PXAT', ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[2], 0, KEYS[1])
return 1`)
	rawRenew = rueidis.NewLuaScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PXAT', ARGV[3])
return 1`)
)

// BenchmarkRedis compares Orbit's Redis provider, through the persistence
// API, with the raw rueidis client doing the same work against the same
// redis-server in the same run. Each sub-benchmark runs 16 goroutines
// (RunParallel with parallelism 8 on 2 cores) and reports ops/s.
//
//	op=get    orbit: AddressableDirectory.Get (GET + decode); raw: GET.
//	op=place  orbit: Place of a new addressable (one script: create-only
//	          record, label index, order index, expiry index); raw: one
//	          script SET NX PXAT + ZADD to a node index.
//	op=renew  orbit: Renew of a held lease (one script, the version known
//	          from the provider's cache); raw: one script comparing the value
//	          and SET PXAT; raw-get+script: a GET then that script.
//	op=place-same-script, op=renew-same-script: the raw client sending the
//	          driver's own script with the same arguments: the server work
//	          of orbit without the provider; orbit / this = the provider's
//	          overhead, raw / this = the cost of the data layout.
func BenchmarkRedis(b *testing.B) {
	srv := redistest.Start(b)
	c := redisConfig(srv.URL())
	if ps := os.Getenv("BENCH_POOL"); ps != "" {
		c.PoolSize, _ = strconv.Atoi(ps)
	}
	p := openProvider(b, c)
	addrs := p.Addressables()
	raw, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{srv.Addr}, DisableCache: true, ForceSingleClient: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(raw.Close)
	ctx := context.Background()
	const ttl = 10 * time.Minute
	const keys = 1024
	n1 := node("bench-node")
	value := string(make([]byte, 48))
	rawKey := func(k string) string { return "{raw}:a/default/Greeter/s" + k }
	pxat := func() string { return strconv.FormatInt(time.Now().Add(ttl).UnixMilli(), 10) }

	held := make([]persistence.AddressableLease, keys)
	for i := range held {
		k := fmt.Sprint("held-", i)
		if held[i], err = addrs.Place(ctx, ref(k), n1, ttl); err != nil {
			b.Fatal(err)
		}
		if err := raw.Do(ctx, raw.B().Set().Key(rawKey(k)).Value(value+"0").Build()).Error(); err != nil {
			b.Fatal(err)
		}
	}
	rawVal := make([]atomic.Int64, keys)

	var seq atomic.Int64
	run := func(b *testing.B, fn func(i int) error) { benchutil.RunParallel(b, keys, fn) }
	renewRaw := func(i int, cur string) error {
		next := value + strconv.FormatInt(rawVal[i].Load()+1, 10)
		ok, err := rawRenew.Exec(ctx, raw, []string{rawKey(fmt.Sprint("held-", i))}, []string{cur, next, pxat()}).AsInt64()
		if err == nil && ok != 1 {
			return fmt.Errorf("raw renew of %d lost", i)
		}
		rawVal[i].Add(1)
		return err
	}

	b.Run("op=get", func(b *testing.B) {
		b.Run("impl=orbit", func(b *testing.B) {
			run(b, func(i int) error { _, err := addrs.Get(ctx, held[i].Reference); return err })
		})
		b.Run("impl=raw-rueidis", func(b *testing.B) {
			run(b, func(i int) error {
				return raw.Do(ctx, raw.B().Get().Key(rawKey(fmt.Sprint("held-", i))).Build()).Error()
			})
		})
	})
	b.Run("op=place", func(b *testing.B) {
		b.Run("impl=orbit", func(b *testing.B) {
			run(b, func(int) error {
				_, err := addrs.Place(ctx, ref(fmt.Sprint("new-", seq.Add(1))), n1, ttl)
				return err
			})
		})
		b.Run("impl=raw-rueidis", func(b *testing.B) {
			run(b, func(int) error {
				k := rawKey(fmt.Sprint("new-", seq.Add(1)))
				ok, err := rawPlace.Exec(ctx, raw, []string{k, "{raw}:x/bench-node"}, []string{value, pxat()}).AsInt64()
				if err == nil && ok != 1 {
					err = fmt.Errorf("raw place of %s lost", k)
				}
				return err
			})
		})
	})
	// The driver's own script sent by the raw client: the same server work
	// as Orbit, without the provider (lease encoding, metrics, retries).
	same := rueidis.NewLuaScript(redis.OpsScriptSource)
	sameVer := make([]string, keys) // index i is only used by one goroutine (benchutil.RunParallel)
	sameExec := func(k, cond, ver string) (string, error) {
		out, err := same.Exec(ctx, raw, []string{"{same.0}:k", "{same.0}:v", "{same.0}:e", "{same.0}:r:" + k},
			[]string{"{same.0}", "e", "1", "p", cond, ver, value, "default/bench-node", pxat(), "op" + strconv.FormatInt(seq.Add(1), 10)}).AsStrSlice()
		if err == nil && (len(out) != 1 || strings.HasPrefix(out[0], "!")) {
			err = fmt.Errorf("same-script write of %s lost: %v", k, out)
		}
		if err != nil {
			return "", err
		}
		return out[0], nil
	}
	for i := range keys {
		if sameVer[i], err = sameExec(fmt.Sprint("held-", i), "0", ""); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("op=place-same-script", func(b *testing.B) {
		run(b, func(int) error { _, err := sameExec(fmt.Sprint("new-", seq.Add(1)), "1", ""); return err })
	})
	b.Run("op=renew-same-script", func(b *testing.B) {
		run(b, func(i int) error {
			v, err := sameExec(fmt.Sprint("held-", i), "2", sameVer[i])
			if err == nil {
				sameVer[i] = v
			}
			return err
		})
	})
	b.Run("op=renew", func(b *testing.B) {
		b.Run("impl=orbit", func(b *testing.B) {
			run(b, func(i int) error {
				_, err := addrs.Renew(ctx, held[i].Reference, n1, held[i].Epoch, ttl)
				return err
			})
		})
		b.Run("impl=raw-rueidis", func(b *testing.B) {
			run(b, func(i int) error { return renewRaw(i, value+strconv.FormatInt(rawVal[i].Load(), 10)) })
		})
		b.Run("impl=raw-rueidis-get+script", func(b *testing.B) {
			run(b, func(i int) error {
				cur, err := raw.Do(ctx, raw.B().Get().Key(rawKey(fmt.Sprint("held-", i))).Build()).ToString()
				if err != nil {
					return err
				}
				return renewRaw(i, cur)
			})
		})
	})
}
