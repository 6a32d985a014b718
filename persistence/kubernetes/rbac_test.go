package kubernetes_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8s "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/orbit-go/orbit/internal/testbackend"
	"github.com/orbit-go/orbit/internal/testbackend/kubetest"
	"github.com/orbit-go/orbit/persistence"
	"github.com/orbit-go/orbit/persistence/config"
	"github.com/orbit-go/orbit/persistence/driver"
	"github.com/orbit-go/orbit/persistence/drivertest"
	"github.com/orbit-go/orbit/persistence/kubernetes"
)

// manifests decodes every object of deploy/kubernetes/*.yaml.
func manifests(t *testing.T) []runtime.Object {
	t.Helper()
	root, err := testbackend.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(root, "deploy", "kubernetes", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in deploy/kubernetes: %v", err)
	}
	var objs []runtime.Object
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, doc := range bytes.Split(b, []byte("\n---")) {
			if len(bytes.TrimSpace(doc)) == 0 {
				continue
			}
			obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(doc, nil, nil)
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			objs = append(objs, obj)
		}
	}
	return objs
}

// apply creates the manifests in namespace ns (instead of "orbit"), as
// the administrator, and returns the orbit.toml of the server's ConfigMap.
func apply(t *testing.T, c k8s.Interface, ns string, objs []runtime.Object) (toml string) {
	t.Helper()
	ctx := context.Background()
	kinds := map[string]bool{}
	for _, obj := range objs {
		var err error
		switch o := obj.(type) {
		case *corev1.ServiceAccount:
			o.Namespace = ns
			_, err = c.CoreV1().ServiceAccounts(ns).Create(ctx, o, metav1.CreateOptions{})
		case *rbacv1.Role:
			o.Namespace = ns
			_, err = c.RbacV1().Roles(ns).Create(ctx, o, metav1.CreateOptions{})
		case *rbacv1.RoleBinding:
			o.Namespace = ns
			for i := range o.Subjects {
				o.Subjects[i].Namespace = ns
			}
			_, err = c.RbacV1().RoleBindings(ns).Create(ctx, o, metav1.CreateOptions{})
		case *corev1.ConfigMap:
			o.Namespace = ns
			toml = o.Data["orbit.toml"]
			_, err = c.CoreV1().ConfigMaps(ns).Create(ctx, o, metav1.CreateOptions{})
		case *appsv1.Deployment:
			o.Namespace = ns
			_, err = c.AppsV1().Deployments(ns).Create(ctx, o, metav1.CreateOptions{})
		default:
			t.Fatalf("unexpected manifest kind %T", obj)
		}
		if err != nil {
			t.Fatalf("apply %T: %v", obj, err)
		}
		kinds[fmt.Sprintf("%T", obj)] = true
	}
	if len(kinds) != 5 || toml == "" {
		t.Fatalf("deploy/kubernetes should hold a ServiceAccount, Role, RoleBinding, ConfigMap (orbit.toml) and Deployment; got %v", kinds)
	}
	return toml
}

// The whole suite against a kube-apiserver with --authorization-mode=RBAC,
// as the ServiceAccount of deploy/kubernetes with exactly the shipped Role,
// through a kubeconfig file holding a real service-account token: the
// manifests grant enough. Then operations outside the Role are denied.
func TestConformanceRBAC(t *testing.T) {
	srv := kubetest.Start(t, kubetest.WithRBAC())
	admin := srv.Client(t)
	ns := srv.Namespace(t, "rbac")
	objs := manifests(t)
	toml := apply(t, admin, ns, objs)

	// The shipped server configuration decodes, validates and uses this
	// provider in cluster.
	cfg, err := config.Parse([]byte(toml), config.FormatTOML, "deploy/kubernetes/configmap.yaml")
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		t.Fatalf("shipped orbit.toml: %v", err)
	}
	kc, ok := cfg.Providers[cfg.Defaults.Addressable].(*config.KubernetesConfig)
	if !ok || !kc.InCluster || cfg.Defaults.Cluster != cfg.Defaults.Addressable {
		t.Fatalf("shipped orbit.toml: want one in-cluster Kubernetes provider for both directories, got %+v", cfg)
	}

	var sa *corev1.ServiceAccount
	for _, o := range objs {
		if s, ok := o.(*corev1.ServiceAccount); ok {
			sa = s
		}
	}
	kubeconfig := srv.Kubeconfig(t, srv.ServiceAccountToken(t, ns, sa.Name))

	// Opened like orbit-server opens it, from the configuration keys.
	var n atomic.Int64
	open := func(t testing.TB) *kubernetes.Store {
		c := config.DefaultKubernetesConfig()
		c.Namespace, c.ConfigMapName, c.Kubeconfig = ns, fmt.Sprintf("rbac-%d", n.Add(1)), kubeconfig
		c.RequestTimeout = 60
		c.QPS, c.Burst = testQPS, 2*testQPS
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
		d, err := persistence.OpenStore(context.Background(), "k8s", &c)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = d.Close(context.Background()) })
		return unwrapStore(t, d)
	}
	t.Run("Suite", func(t *testing.T) {
		drivertest.RunConformanceTests(t, drivertest.Harness{
			MakeStore:    func(t *testing.T) driver.Store { return open(t) },
			Capabilities: kubeCaps,
		})
	})

	t.Run("OutsideTheRoleIsDenied", func(t *testing.T) {
		s := open(t)
		ctx := context.Background()
		if _, err := s.Put(ctx, "k", []byte("v"), driver.Unconditional()); err != nil {
			t.Fatal(err)
		}
		c := s.Client()
		shard := s.ShardOf("k")
		other := srv.Namespace(t, "other")
		denied := map[string]error{
			"delete configmaps": c.CoreV1().ConfigMaps(ns).Delete(ctx, shard, metav1.DeleteOptions{}),
			"patch configmaps": func() error {
				_, err := c.CoreV1().ConfigMaps(ns).Patch(ctx, shard, "application/merge-patch+json", []byte(`{"metadata":{"labels":{"x":"y"}}}`), metav1.PatchOptions{})
				return err
			}(),
			"get secrets": func() error {
				_, err := c.CoreV1().Secrets(ns).Get(ctx, "orbit-secrets", metav1.GetOptions{})
				return err
			}(),
			"list configmaps in another namespace": func() error {
				_, err := c.CoreV1().ConfigMaps(other).List(ctx, metav1.ListOptions{})
				return err
			}(),
			"list leases (coordination.k8s.io)": func() error {
				_, err := c.CoordinationV1().Leases(ns).List(ctx, metav1.ListOptions{})
				return err
			}(),
		}
		for what, err := range denied {
			if !apierrors.IsForbidden(err) {
				t.Errorf("%s: got %v, want Forbidden", what, err)
			}
		}
		if h := s.HealthCheck(ctx); h.Status != driver.Healthy {
			t.Errorf("health with the shipped Role = %s (%s), want Healthy", h.Status, h.Reason)
		}
		// The same store in a namespace where the Role is not bound.
		o := kubernetes.Options{Namespace: other, Name: "x", Kubeconfig: kubeconfig}
		s2 := openStore(t, o)
		_, err := s2.Put(ctx, "k", []byte("v"), driver.Unconditional())
		if !errors.Is(err, driver.ErrUnavailable) || !strings.Contains(err.Error(), "may not get configmaps in namespace "+other) {
			t.Errorf("put in a namespace without the Role = %v; want ErrUnavailable naming get configmaps and the namespace", err)
		}
		h := s2.HealthCheck(ctx)
		if h.Status != driver.Unhealthy || !strings.Contains(h.Reason, "may not get, list, watch, create, update configmaps in namespace "+other) {
			t.Errorf("health without the Role = %s (%s); want Unhealthy naming every verb and the resource", h.Status, h.Reason)
		}
	})

	t.Run("MissingVerbIsNamed", func(t *testing.T) {
		ctx := context.Background()
		role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "read-only", Namespace: ns},
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list", "watch"}}}}
		if _, err := admin.RbacV1().Roles(ns).Create(ctx, role, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "read-only", Namespace: ns},
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "read-only"},
			Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "reader", Namespace: ns}}}
		if _, err := admin.RbacV1().RoleBindings(ns).Create(ctx, rb, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		reader := srv.Kubeconfig(t, srv.ServiceAccountToken(t, ns, "reader"))
		s := openStore(t, kubernetes.Options{Namespace: ns, Name: "reader", Kubeconfig: reader})
		h := s.HealthCheck(ctx)
		if h.Status != driver.Unhealthy || !strings.Contains(h.Reason, "may not create, update configmaps in namespace "+ns) {
			t.Errorf("health of a read-only identity = %s (%s); want Unhealthy naming create, update configmaps", h.Status, h.Reason)
		}
		if _, err := s.Get(ctx, "k"); !errors.Is(err, driver.ErrNotFound) {
			t.Errorf("get as a reader = %v, want ErrNotFound", err)
		}
		_, err := s.Put(ctx, "k", []byte("v"), driver.CreateOnly())
		if !errors.Is(err, driver.ErrUnavailable) || !strings.Contains(err.Error(), "may not create configmaps in namespace "+ns) {
			t.Errorf("put as a reader = %v; want ErrUnavailable naming create configmaps", err)
		}
	})
}

// unwrapStore returns the *kubernetes.Store under the registry's decorators.
func unwrapStore(t testing.TB, d driver.Store) *kubernetes.Store {
	t.Helper()
	for {
		if s, ok := d.(*kubernetes.Store); ok {
			return s
		}
		u, ok := d.(interface{ Unwrap() driver.Store })
		if !ok {
			t.Fatalf("OpenStore returned %T, not a *kubernetes.Store", d)
		}
		d = u.Unwrap()
	}
}
