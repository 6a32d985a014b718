package migration_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/orbit-go/orbit/clock"
	"github.com/orbit-go/orbit/internal/testbackend/etcdtest"
	"github.com/orbit-go/orbit/internal/testbackend/redistest"
	"github.com/orbit-go/orbit/internal/testbackend/s3test"
	"github.com/orbit-go/orbit/persistence"
	"github.com/orbit-go/orbit/persistence/config"

	_ "github.com/orbit-go/orbit/persistence/etcd"
	_ "github.com/orbit-go/orbit/persistence/memory"
	_ "github.com/orbit-go/orbit/persistence/redis"
	_ "github.com/orbit-go/orbit/persistence/s3"
)

// testGrace keeps dead lease records for longer than any test runs, on
// every provider, so that backends with native expiry (etcd, Redis) do not
// delete the expired records a test copies while it still compares them.
const testGrace = time.Hour

// newClock is a manual clock at the real time (TTL backends compute their
// native deletion deadlines from the leases' times, so these must be near
// the real time).
func newClock() *clock.Manual { return clock.NewManual(time.Now().Truncate(time.Millisecond)) }

func open(t testing.TB, name string, cfg config.ProviderConfig, clk clock.Clock) persistence.Provider {
	t.Helper()
	ctx := context.Background()
	p, err := persistence.Open(ctx, name, cfg, persistence.WithClock(clk), persistence.WithEpochGrace(testGrace))
	if err != nil {
		t.Fatalf("open %s: %v", name, err)
	}
	t.Cleanup(func() { _ = p.Close(ctx) })
	return p
}

func openMemory(t testing.TB, name string, clk clock.Clock) persistence.Provider {
	c := config.DefaultMemoryConfig()
	return open(t, name, &c, clk)
}

func openEtcd(t testing.TB, srv *etcdtest.Server, prefix string, clk clock.Clock) persistence.Provider {
	c := config.DefaultEtcdConfig()
	c.Endpoints, c.Prefix, c.RequestTimeout = srv.Endpoints(), prefix, 30
	return open(t, "etcd", &c, clk)
}

func redisConfig(srv *redistest.Server, prefix string) *config.RedisConfig {
	c := config.DefaultRedisConfig()
	c.URL, c.Prefix, c.RequestTimeout, c.DialTimeout, c.RetryCount = srv.URL(), prefix, 30, 2, 1
	return &c
}

func openRedis(t testing.TB, srv *redistest.Server, prefix string, clk clock.Clock) persistence.Provider {
	return open(t, "redis", redisConfig(srv, prefix), clk)
}

func openS3(t testing.TB, srv *s3test.Server, clk clock.Clock) persistence.Provider {
	c := config.DefaultS3Config()
	c.Endpoint, c.EnableSSL, c.Region, c.Bucket = srv.Endpoint, false, srv.Region, srv.Bucket
	c.AccessKeyID, c.SecretAccessKey = srv.AccessKey, srv.SecretKey
	return open(t, "s3-"+srv.Kind, &c, clk)
}

// dataset describes test data: n leases over nodes nodes, in namespace ns.
type dataset struct {
	ns       string
	leases   int
	nodes    int
	expired  int // of the leases, how many expired a minute ago
	released int // of the leases, how many were released (after the expired ones)
}

func nodeID(ns string, i int) persistence.NodeID {
	return persistence.NodeID{Namespace: ns, Key: fmt.Sprintf("node-%04d", i)}
}

func ref(ns string, i int) persistence.AddressableReference {
	if i%3 == 0 {
		return persistence.AddressableReference{Namespace: ns, Type: "counter", Key: persistence.Int64Key(int64(i))}
	}
	return persistence.AddressableReference{Namespace: ns, Type: "user", Key: persistence.StringKey(fmt.Sprintf("u-%07d", i))}
}

// epochBase is the epoch of lease 0 of a dataset written at now: an hour of
// microseconds ahead of the clock (as if written by a server whose clock
// runs ahead), so that the next placement's epoch is the stored one + 1
// (not the placement time) and shows whether the epoch was carried over.
func epochBase(now time.Time) uint64 { return uint64(now.Add(time.Hour).UnixMicro()) }

// populate writes d into p at clk's time: leases are recognisable by index
// (epoch epochBase+i, node i%nodes).
func populate(t testing.TB, p persistence.Provider, clk clock.Clock, d dataset) {
	t.Helper()
	ctx := context.Background()
	now := clk.Now()
	for i := 0; i < d.nodes; i++ {
		n := persistence.NodeInfo{
			ID: nodeID(d.ns, i), URL: fmt.Sprintf("http://10.0.%d.%d:50051", i/250, i%250), Status: persistence.NodeActive,
			Capabilities: persistence.NodeCapabilities{AddressableTypes: []string{"counter", "user"}, MaxAddressables: i,
				Tags: map[string]string{"zone": fmt.Sprintf("z%d", i%3)}},
			Lease: persistence.NodeLease{ExpiresAt: now.Add(time.Hour), RenewAt: now.Add(30 * time.Minute), ChallengeToken: fmt.Sprintf("tok-%d", i)},
		}
		if err := p.Nodes().Store(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	const chunk = 5000
	for start := 0; start < d.leases; start += chunk {
		var ls []persistence.AddressableLease
		for i := start; i < min(start+chunk, d.leases); i++ {
			l := persistence.AddressableLease{Reference: ref(d.ns, i), Node: nodeID(d.ns, i%d.nodes),
				CreatedAt: now.Add(-time.Duration(i%600) * time.Second), Epoch: epochBase(now) + uint64(i)}
			if i < d.expired {
				l.CreatedAt, l.RenewAt, l.ExpiresAt = now.Add(-time.Hour), now.Add(-30*time.Minute), now.Add(-time.Minute)
			} else {
				l.RenewAt, l.ExpiresAt = now.Add(time.Duration(i%7)*time.Minute), now.Add(time.Hour+time.Duration(i)*time.Millisecond)
			}
			ls = append(ls, l)
		}
		if err := p.Addressables().StoreBulk(ctx, ls); err != nil {
			t.Fatal(err)
		}
	}
	for i := d.expired; i < d.expired+d.released; i++ {
		if err := p.Addressables().Release(ctx, ref(d.ns, i), nodeID(d.ns, i%d.nodes), epochBase(now)+uint64(i)); err != nil {
			t.Fatal(err)
		}
	}
}

// countRecords counts p's lease records (live or not) and checks that no
// key appears twice.
func countRecords(t testing.TB, p persistence.Provider) (all, live int) {
	t.Helper()
	seen := map[string]bool{}
	tok := ""
	for {
		page, err := persistence.ScanLeaseRecords(context.Background(), p, persistence.PageRequest{PageToken: tok, Limit: persistence.MaxPageSize})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page.Records {
			if seen[r.Key] {
				t.Fatalf("record %q listed twice", r.Key)
			}
			seen[r.Key] = true
			all++
			if r.Live {
				live++
			}
		}
		if page.NextPageToken == "" {
			return all, live
		}
		tok = page.NextPageToken
	}
}
