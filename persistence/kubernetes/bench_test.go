package kubernetes_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8s "k8s.io/client-go/kubernetes"

	"github.com/orbit-go/orbit/internal/benchutil"
	"github.com/orbit-go/orbit/internal/testbackend/kubetest"
	"github.com/orbit-go/orbit/persistence"
	"github.com/orbit-go/orbit/persistence/kubernetes"
)

func ref(key string) persistence.AddressableReference {
	return persistence.AddressableReference{Namespace: "default", Type: "Greeter", Key: persistence.StringKey(key)}
}

func node(key string) persistence.NodeID { return persistence.NodeID{Namespace: "default", Key: key} }

// BenchmarkKubernetes compares Orbit's Kubernetes provider, through the
// persistence API, with raw client-go calls doing the same work against
// the same kube-apiserver in the same run. Each sub-benchmark runs 16
// goroutines (RunParallel with parallelism 8 on 2 cores) and reports ops/s.
// The client-side rate limit is lifted for both (QPS 5000), so that the
// API server is what is measured.
//
//	op=get    orbit: AddressableDirectory.Get of a placed lease (GET of its
//	          shard, decode); raw-configmap: GET of a small ConfigMap per key.
//	op=place  orbit: Place of a new addressable (a GET that misses, then
//	          the record and the index entry, each one Update of its shard,
//	          batched with concurrent writes of the same shard);
//	          raw-configmap: CREATE of one small ConfigMap per key.
//	op=renew  orbit: Renew of a held lease (a GET, then two shard Updates);
//	          raw-configmap: GET and UPDATE (resourceVersion CAS) of the
//	          key's own ConfigMap.
//
// raw-configmap is the simplest hand-written layout: one object per lease
// (which does not scale to 100,000 leases in a namespace listing, but is the
// fewest bytes per request).
func BenchmarkKubernetes(b *testing.B) {
	srv := kubetest.Start(b)
	ns := srv.Namespace(b, "bench")
	cfg := srv.AdminConfig()
	cfg.QPS, cfg.Burst = 5000, 5000
	s, err := kubernetes.Open(context.Background(), kubernetes.Options{RESTConfig: cfg, Namespace: ns, Name: "bench", QPS: 5000, Burst: 5000})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close(context.Background()) })
	addrs := persistence.NewProvider("kubernetes", "Kubernetes", s).Addressables()
	raw, err := k8s.NewForConfig(cfg)
	if err != nil {
		b.Fatal(err)
	}
	cms := raw.CoreV1().ConfigMaps(ns)
	ctx := context.Background()
	const ttl = 10 * time.Minute
	const keys = 1024
	n1 := node("bench-node")
	value := make([]byte, 96)
	rawName := func(k string) string { return "raw-" + k }
	rawCM := func(k string) *corev1.ConfigMap {
		return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: rawName(k)}, BinaryData: map[string][]byte{"v": value}}
	}

	held := make([]persistence.AddressableLease, keys)
	for i := range held {
		k := fmt.Sprint("held-", i)
		if held[i], err = addrs.Place(ctx, ref(k), n1, ttl); err != nil {
			b.Fatal(err)
		}
		if _, err := cms.Create(ctx, rawCM(k), metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	var seq atomic.Int64
	run := func(b *testing.B, fn func(i int) error) { benchutil.RunParallel(b, keys, fn) }

	b.Run("op=get", func(b *testing.B) {
		b.Run("impl=orbit", func(b *testing.B) {
			run(b, func(i int) error { _, err := addrs.Get(ctx, held[i].Reference); return err })
		})
		b.Run("impl=raw-configmap", func(b *testing.B) {
			run(b, func(i int) error {
				_, err := cms.Get(ctx, rawName(fmt.Sprint("held-", i)), metav1.GetOptions{})
				return err
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
		b.Run("impl=raw-configmap", func(b *testing.B) {
			run(b, func(int) error {
				_, err := cms.Create(ctx, rawCM(fmt.Sprint("new-", seq.Add(1))), metav1.CreateOptions{})
				return err
			})
		})
	})
	b.Run("op=renew", func(b *testing.B) {
		b.Run("impl=orbit", func(b *testing.B) {
			run(b, func(i int) error {
				_, err := addrs.Renew(ctx, held[i].Reference, n1, held[i].Epoch, ttl)
				return err
			})
		})
		b.Run("impl=raw-configmap", func(b *testing.B) {
			run(b, func(i int) error {
				cm, err := cms.Get(ctx, rawName(fmt.Sprint("held-", i)), metav1.GetOptions{})
				if err != nil {
					return err
				}
				cm.BinaryData["v"] = value
				cm.Annotations = map[string]string{"renewed": fmt.Sprint(seq.Add(1))}
				_, err = cms.Update(ctx, cm, metav1.UpdateOptions{})
				return err
			})
		})
	})
}
