package kubernetes_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/orbit-go/orbit/internal/testbackend"
	"github.com/orbit-go/orbit/internal/testbackend/kubetest"
	"github.com/orbit-go/orbit/persistence/driver"
	"github.com/orbit-go/orbit/persistence/kubernetes"
)

var bg = context.Background()

// TestDriver checks what the conformance suite cannot: writers in two
// processes (two clients), the layout in the API server, long keys,
// namespace isolation, shard-count mismatches, deleted shards and the
// mapping of the API server's errors. One API server for all subtests.
func TestDriver(t *testing.T) {
	srv := kubetest.Start(t)
	ns := srv.Namespace(t, "drv")
	cfg := srv.AdminConfig()
	opts := func(name string, shards int) kubernetes.Options {
		return kubernetes.Options{RESTConfig: cfg, Namespace: ns, Name: name, Shards: shards}
	}
	t.Run("TwoClientsOneShard", func(t *testing.T) { testTwoClients(t, opts("two", 1)) })
	t.Run("StaleCache", func(t *testing.T) { testStaleCache(t, opts("stale", 1)) })
	t.Run("Layout", func(t *testing.T) { testLayout(t, srv, opts("layout", 4)) })
	t.Run("LongKeys", func(t *testing.T) { testLongKeys(t, opts("long", 3)) })
	t.Run("NamespaceIsolation", func(t *testing.T) {
		other := srv.Namespace(t, "iso")
		a := openStore(t, opts("iso", 8))
		o := opts("iso", 8)
		o.Namespace = other
		b := openStore(t, o)
		c := openStore(t, opts("iso2", 8))
		mustPut(t, a, "k", "a")
		if _, err := b.Get(bg, "k"); !errors.Is(err, driver.ErrNotFound) {
			t.Fatalf("same name, other namespace: Get = %v, want ErrNotFound", err)
		}
		if _, err := c.Get(bg, "k"); !errors.Is(err, driver.ErrNotFound) {
			t.Fatalf("other name, same namespace: Get = %v, want ErrNotFound", err)
		}
		if p, err := b.List(bg, "", driver.ListOptions{}); err != nil || len(p.Entries) != 0 {
			t.Fatalf("List in the other namespace = %v, %v; want nothing", p.Entries, err)
		}
	})
	t.Run("ShardCountMismatch", func(t *testing.T) {
		four := openStore(t, opts("mismatch", 4))
		eight := openStore(t, opts("mismatch", 8))
		var key string
		for i := 0; key == ""; i++ {
			if k := fmt.Sprint("k", i); slices.Contains(four.ShardNames(), eight.ShardOf(k)) {
				key = k
			}
		}
		// Write every shard of the 4-shard store.
		for i := 0; i < 64; i++ {
			mustPut(t, four, fmt.Sprint("k", i), "v")
		}
		if _, err := eight.Get(bg, key); !errors.Is(err, driver.ErrInvalidArgument) || !strings.Contains(err.Error(), "shards = 8") {
			t.Fatalf("Get with another shard count = %v; want ErrInvalidArgument naming the shard counts", err)
		}
		if _, err := eight.List(bg, "", driver.ListOptions{}); !errors.Is(err, driver.ErrInvalidArgument) {
			t.Fatalf("List with another shard count = %v; want ErrInvalidArgument", err)
		}
	})
	t.Run("DeletedShard", func(t *testing.T) {
		s := openStore(t, opts("deleted", 1))
		v1 := mustPut(t, s, "k", "one")
		if err := srv.Client(t).CoreV1().ConfigMaps(ns).Delete(bg, s.ShardOf("k"), metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		// The store's cached shard is gone: the write re-creates it, and
		// the re-created key's version is new.
		v2 := mustPut(t, s, "k", "two")
		if v2 == v1 || v2.Num() < v1.Num() {
			t.Fatalf("version after the shard was re-created = %s, first %s; want a larger one", v2, v1)
		}
		if e, err := s.Get(bg, "k"); err != nil || string(e.Value) != "two" || e.Version != v2 {
			t.Fatalf("Get = %+v, %v", e, err)
		}
	})
	t.Run("Capacity", func(t *testing.T) {
		s := openStore(t, opts("capacity", 1))
		big := bytes.Repeat([]byte("x"), 400<<10)
		for i := 0; i < 2; i++ {
			if _, err := s.Put(bg, fmt.Sprint("big", i), big, driver.Unconditional()); err != nil {
				t.Fatal(err)
			}
		}
		// The third does not fit in the shard's 1 MiB: the API server refuses it.
		if _, err := s.Put(bg, "big2", big, driver.Unconditional()); !errors.Is(err, driver.ErrCapacity) {
			t.Fatalf("Put beyond 1 MiB in one shard = %v, want ErrCapacity", err)
		}
		if _, err := s.Put(bg, "huge", make([]byte, 2<<20), driver.Unconditional()); !errors.Is(err, driver.ErrCapacity) {
			t.Fatalf("Put of 2 MiB = %v, want ErrCapacity", err)
		}
		if e, err := s.Get(bg, "big1"); err != nil || len(e.Value) != len(big) {
			t.Fatalf("the values that fit are kept: %v", err)
		}
	})
	t.Run("MissingNamespace", func(t *testing.T) {
		o := opts("x", 4)
		o.Namespace = "no-such-namespace"
		s := openStore(t, o)
		_, err := s.Put(bg, "k", []byte("v"), driver.Unconditional())
		if !errors.Is(err, driver.ErrUnavailable) || !strings.Contains(err.Error(), "namespace no-such-namespace does not exist") {
			t.Fatalf("Put in a missing namespace = %v; want ErrUnavailable naming the namespace", err)
		}
	})
	t.Run("Unreachable", func(t *testing.T) {
		port := testbackend.FreePorts(t, 1)[0]
		c := rest.CopyConfig(cfg)
		c.Host = fmt.Sprintf("https://127.0.0.1:%d", port)
		s := openStore(t, kubernetes.Options{RESTConfig: c, Namespace: ns, Name: "x", RequestTimeout: 2e9})
		if _, err := s.Get(bg, "k"); !errors.Is(err, driver.ErrUnavailable) {
			t.Fatalf("Get from an unreachable API server = %v, want ErrUnavailable", err)
		}
		if _, err := s.Put(bg, "k", []byte("v"), driver.Unconditional()); !errors.Is(err, driver.ErrUnavailable) {
			t.Fatalf("Put to an unreachable API server = %v, want ErrUnavailable", err)
		}
		if h := s.HealthCheck(bg); h.Status != driver.Unhealthy || !strings.Contains(h.Reason, "/readyz") {
			t.Fatalf("health of an unreachable API server = %s (%s)", h.Status, h.Reason)
		}
	})
}

func mustPut(t *testing.T, s driver.Store, key, value string) driver.Version {
	t.Helper()
	v, err := s.Put(bg, key, []byte(value), driver.Unconditional())
	if err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
	return v
}

// testTwoClients: two stores with their own clients (two servers) write
// one shard at once. Writes of different keys never conflict, however
// often the API server refuses an Update; of racing create-only writes of
// one key exactly one wins.
func testTwoClients(t *testing.T, o kubernetes.Options) {
	a, b := openStore(t, o), openStore(t, o)
	const writers, keys = 8, 12
	var wg sync.WaitGroup
	errs := make(chan error, 2*writers*keys)
	for i, s := range []*kubernetes.Store{a, b} {
		for w := 0; w < writers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := 0; k < keys; k++ {
					if _, err := s.Put(bg, fmt.Sprintf("u/%d/%d/%02d", i, w, k), []byte("v"), driver.CreateOnly()); err != nil {
						errs <- err
					}
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("create-only write of an unrelated key failed: %v", err)
	}
	page, err := b.List(bg, "u/", driver.ListOptions{})
	if err != nil || len(page.Entries) != 2*writers*keys {
		t.Fatalf("List = %d entries, %v; want %d", len(page.Entries), err, 2*writers*keys)
	}
	for round := 0; round < 10; round++ {
		key := fmt.Sprint("same/", round)
		var wins, conflicts int
		var mu sync.Mutex
		var wg sync.WaitGroup
		for i := 0; i < 16; i++ {
			s := []*kubernetes.Store{a, b}[i%2]
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := s.Put(bg, key, []byte(fmt.Sprint(i)), driver.CreateOnly())
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					wins++
				case errors.Is(err, driver.ErrConflict):
					conflicts++
				default:
					t.Errorf("round %d: %v", round, err)
				}
			}()
		}
		wg.Wait()
		if wins != 1 || conflicts != 15 {
			t.Fatalf("round %d: %d wins, %d conflicts; want 1 and 15", round, wins, conflicts)
		}
	}
}

// testStaleCache: a store writes on top of the shard it last saw; when
// another client changed the shard since, its conditions are checked
// against the current shard, never the cached one.
func testStaleCache(t *testing.T, o kubernetes.Options) {
	a, b := openStore(t, o), openStore(t, o)
	v1 := mustPut(t, a, "k", "a1") // a caches the shard
	v2, err := b.Put(bg, "k", []byte("b2"), driver.MatchVersion(v1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Put(bg, "k", []byte("a-stale"), driver.MatchVersion(v1)); !errors.Is(err, driver.ErrConflict) {
		t.Fatalf("Put with the version b replaced = %v, want ErrConflict", err)
	}
	// a's cache says "j" is absent; b creates it; a's conditional write
	// with b's version holds on the current shard.
	vj, err := b.Put(bg, "j", []byte("b"), driver.CreateOnly())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Put(bg, "j", []byte("a"), driver.MatchVersion(vj)); err != nil {
		t.Fatalf("Put IfVersion of a key created by the other client: %v", err)
	}
	if _, err := a.Put(bg, "k", []byte("a3"), driver.MatchVersion(v2)); err != nil {
		t.Fatalf("Put IfVersion with the current version: %v", err)
	}
	if err := b.Delete(bg, "k", driver.Unconditional()); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Put(bg, "k", []byte("a4"), driver.CreateOnly()); err != nil {
		t.Fatalf("CreateOnly after the other client deleted the key: %v", err)
	}
}

var configMapKey = regexp.MustCompile(`^[-._a-zA-Z0-9]+$`)

// testLayout: the shards are labelled ConfigMaps with valid data keys,
// and the driver creates no Secret.
func testLayout(t *testing.T, srv *kubetest.Server, o kubernetes.Options) {
	s := openStore(t, o)
	for i := 0; i < 40; i++ {
		mustPut(t, s, fmt.Sprintf("a/ns/Type/s%d é/%%", i), strings.Repeat("v", i))
	}
	c := srv.Client(t)
	list, err := c.CoreV1().ConfigMaps(o.Namespace).List(bg, metav1.ListOptions{LabelSelector: "app.kubernetes.io/managed-by=orbit,orbit.io/store=" + o.Name})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != o.Shards {
		t.Fatalf("%d shard ConfigMaps, want %d (40 keys over %d shards)", len(list.Items), o.Shards, o.Shards)
	}
	total := 0
	for _, cm := range list.Items {
		if !slices.Contains(s.ShardNames(), cm.Name) || cm.Annotations["orbit.io/shards"] != fmt.Sprint(o.Shards) || cm.Annotations["orbit.io/seq"] == "" {
			t.Fatalf("shard %s: annotations %v", cm.Name, cm.Annotations)
		}
		if len(cm.Data) != 0 {
			t.Fatalf("shard %s has text data %v", cm.Name, cm.Data)
		}
		for k := range cm.BinaryData {
			if !configMapKey.MatchString(k) {
				t.Fatalf("shard %s: data key %q", cm.Name, k)
			}
		}
		total += len(cm.BinaryData)
	}
	if total != 40 {
		t.Fatalf("%d entries in the shards, want 40", total)
	}
	secrets, err := c.CoreV1().Secrets(o.Namespace).List(bg, metav1.ListOptions{})
	if err != nil || len(secrets.Items) != 0 {
		t.Fatalf("secrets in the namespace: %v, %v; want none", secrets, err)
	}
}

// testLongKeys: keys up to driver.MaxKeyLen bytes, on both sides of the
// longest key that fits in a ConfigMap data key, list in byte order.
func testLongKeys(t *testing.T, o kubernetes.Options) {
	s := openStore(t, o)
	var keys []string
	for _, n := range []int{1, 187, 188, 189, 190, 500, driver.MaxKeyLen} {
		for _, c := range []string{"a", "é", "z"} {
			k := "long/" + strings.Repeat(c, n)
			if len(k) > driver.MaxKeyLen {
				k = k[:driver.MaxKeyLen-1] + "!"
			}
			keys = append(keys, k)
		}
	}
	for _, k := range keys {
		mustPut(t, s, k, "v:"+k)
	}
	for _, k := range keys {
		if e, err := s.Get(bg, k); err != nil || string(e.Value) != "v:"+k || e.Key != k {
			t.Fatalf("Get(%d-byte key) = %q, %v", len(k), e.Value, err)
		}
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)
	var got []string
	after := ""
	for {
		p, err := s.List(bg, "long/", driver.ListOptions{StartAfter: after, Limit: 4})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range p.Entries {
			got = append(got, e.Key)
		}
		if !p.More {
			break
		}
		after = p.Entries[len(p.Entries)-1].Key
	}
	if !slices.Equal(got, keys) {
		t.Fatalf("List returned %d keys in this order, want %d in byte order", len(got), len(keys))
	}
	for _, k := range keys {
		if err := s.Delete(bg, k, driver.Unconditional()); err != nil {
			t.Fatal(err)
		}
	}
	if p, err := s.List(bg, "long/", driver.ListOptions{}); err != nil || len(p.Entries) != 0 {
		t.Fatalf("List after deleting every key = %d entries, %v", len(p.Entries), err)
	}
}
