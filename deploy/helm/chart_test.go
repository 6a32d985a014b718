package helm_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"

	"github.com/orbit-go/orbit/internal/testbackend"
	"github.com/orbit-go/orbit/internal/testbackend/kubetest"
	"github.com/orbit-go/orbit/persistence/config"
	"github.com/orbit-go/orbit/persistence/kubernetes"
)

const (
	// chart is the chart's folder, relative to this package.
	chart = "orbit"
	// toolsHelm is where the install script builds helm, relative to the
	// repository root.
	toolsHelm = ".tools/bin/helm"
	// installHint is the install step named when helm is missing.
	installHint = "./scripts/install-test-backends.sh"
	// release is the release name of every render.
	release = "orbit"
	// fieldManager owns the fields the tests apply.
	fieldManager = "orbit-chart-test"
)

// valueSet is one configuration of the chart the tests render, lint and apply.
type valueSet struct {
	name   string
	files  []string // values files, relative to this package
	values string   // more values (YAML), after files
	check  func(t *testing.T, r *rendered)
}

// valueSets are the configurations under test: the defaults, each
// variant of values.yaml and each example values file.
var valueSets = []valueSet{
	{name: "defaults", check: func(t *testing.T, r *rendered) {
		w := r.workload(t)
		if w.GetKind() != "Deployment" {
			t.Errorf("workload kind = %s, want Deployment", w.GetKind())
		}
		if got := str(w.Object, "spec", "strategy", "type"); got != "Recreate" {
			t.Errorf("Deployment strategy with the Memory provider = %q, want Recreate (never two processes on one backup)", got)
		}
		if got := num(w.Object, "spec", "replicas"); got != 1 {
			t.Errorf("replicas = %d, want 1", got)
		}
		r.want(t, "PersistentVolumeClaim", release+"-data")
		if got := str(w.Object, "spec", "template", "spec", "volumes", "[name=data]", "persistentVolumeClaim", "claimName"); got != release+"-data" {
			t.Errorf("data volume claim = %q, want %s-data", got, release)
		}
		r.none(t, "Role", "RoleBinding", "ServiceMonitor", "Secret", "StatefulSet")
		if b, ok := field(w.Object, "spec", "template", "spec", "automountServiceAccountToken").(bool); !ok || b {
			t.Errorf("automountServiceAccountToken = %v, want false (no Kubernetes provider)", b)
		}
		cfg := r.orbitConfig(t, nil)
		m, ok := cfg.Providers["memory"].(*config.MemoryConfig)
		if !ok || m.DiskBackup == nil || !strings.HasPrefix(m.DiskBackup.Path, "/data/") {
			t.Errorf("default configuration: want a Memory provider with a disk backup under /data, got %#v", cfg.Providers["memory"])
		}
		if got := str(r.container(t), "readinessProbe", "httpGet", "scheme"); got != "HTTP" {
			t.Errorf("readiness scheme without TLS = %q, want HTTP", got)
		}
	}},
	{name: "statefulset", values: "workload: {kind: StatefulSet}\npersistence: {size: 5Gi}\n", check: func(t *testing.T, r *rendered) {
		w := r.workload(t)
		if w.GetKind() != "StatefulSet" {
			t.Fatalf("workload kind = %s, want StatefulSet", w.GetKind())
		}
		if got := str(w.Object, "spec", "serviceName"); got != release+"-headless" {
			t.Errorf("serviceName = %q, want %s-headless", got, release)
		}
		h := r.want(t, "Service", release+"-headless")
		if got := str(h.Object, "spec", "clusterIP"); got != "None" {
			t.Errorf("headless Service clusterIP = %q, want None", got)
		}
		if got := str(w.Object, "spec", "volumeClaimTemplates", "[metadata.name=data]", "spec", "resources", "requests", "storage"); got != "5Gi" {
			t.Errorf("volumeClaimTemplate data storage = %q, want 5Gi", got)
		}
		if v := field(w.Object, "spec", "template", "spec", "volumes", "[name=data]"); v != nil {
			t.Errorf("pod volume data = %v, want none (the claim template provides it)", v)
		}
		r.none(t, "PersistentVolumeClaim", "Deployment", "Role")
	}},
	{name: "kubernetes-rbac", files: []string{"orbit/examples/kubernetes.yaml"}, check: func(t *testing.T, r *rendered) {
		role := r.want(t, "Role", release)
		rules, _ := field(role.Object, "rules").([]any)
		if len(rules) != 1 {
			t.Fatalf("Role rules = %v, want one", rules)
		}
		rule := rules[0].(map[string]any)
		if got := strs(rule["resources"]); !slices.Equal(got, []string{"configmaps"}) {
			t.Errorf("Role resources = %v, want [configmaps]", got)
		}
		if got := strs(rule["apiGroups"]); !slices.Equal(got, []string{""}) {
			t.Errorf("Role apiGroups = %v, want [\"\"]", got)
		}
		if got := strs(rule["verbs"]); !slices.Equal(got, kubernetes.RequiredVerbs) {
			t.Errorf("Role verbs = %v, want exactly the provider's %v", got, kubernetes.RequiredVerbs)
		}
		rb := r.want(t, "RoleBinding", release)
		sa := r.want(t, "ServiceAccount", release)
		if got := str(rb.Object, "subjects", "[name="+sa.GetName()+"]", "namespace"); got != r.ns {
			t.Errorf("RoleBinding subject %s namespace = %q, want %s", sa.GetName(), got, r.ns)
		}
		if got := str(rb.Object, "roleRef", "name"); got != role.GetName() {
			t.Errorf("RoleBinding roleRef = %q, want %s", got, role.GetName())
		}
		w := r.workload(t)
		if b, _ := field(w.Object, "spec", "template", "spec", "automountServiceAccountToken").(bool); !b {
			t.Error("automountServiceAccountToken = false, want true (the Kubernetes provider uses the pod's token)")
		}
		if got := str(w.Object, "spec", "template", "spec", "serviceAccountName"); got != sa.GetName() {
			t.Errorf("serviceAccountName = %q, want %s", got, sa.GetName())
		}
		if got := str(w.Object, "spec", "strategy", "type"); got != "RollingUpdate" {
			t.Errorf("strategy with a shared provider = %q, want RollingUpdate", got)
		}
		cfg := r.orbitConfig(t, nil)
		k, ok := cfg.Providers["kubernetes"].(*config.KubernetesConfig)
		if !ok || !k.InCluster || k.Namespace != r.ns {
			t.Errorf("Kubernetes provider = %#v, want in_cluster in the release namespace %s", cfg.Providers["kubernetes"], r.ns)
		}
		r.none(t, "PersistentVolumeClaim")
	}},
	{name: "servicemonitor", values: "serviceMonitor: {enabled: true, labels: {release: prom}, bearerTokenSecret: {name: orbit-prom, key: token}}\n", check: func(t *testing.T, r *rendered) {
		sm := r.want(t, "ServiceMonitor", release)
		if sm.GetAPIVersion() != "monitoring.coreos.com/v1" {
			t.Errorf("ServiceMonitor apiVersion = %s", sm.GetAPIVersion())
		}
		admin := r.want(t, "Service", release+"-admin")
		sel, _ := field(sm.Object, "spec", "selector", "matchLabels").(map[string]any)
		for k, v := range sel {
			if admin.GetLabels()[k] != v {
				t.Errorf("ServiceMonitor selects %s=%v, which the admin Service lacks (labels %v)", k, v, admin.GetLabels())
			}
		}
		for _, other := range r.all("Service") {
			if other.GetName() == admin.GetName() {
				continue
			}
			matches := len(sel) > 0
			for k, v := range sel {
				matches = matches && other.GetLabels()[k] == v
			}
			if matches {
				t.Errorf("ServiceMonitor also selects Service %s", other.GetName())
			}
		}
		if got := str(sm.Object, "spec", "endpoints", "[port=admin]", "path"); got != "/metrics" {
			t.Errorf("ServiceMonitor endpoint admin path = %q, want /metrics", got)
		}
		if got := str(sm.Object, "spec", "endpoints", "[port=admin]", "authorization", "credentials", "name"); got != "orbit-prom" {
			t.Errorf("ServiceMonitor bearer token Secret = %q, want orbit-prom", got)
		}
	}},
	{name: "secrets-env", values: `
config:
  defaults: {addressable: redis-main, cluster: redis-main}
  providers:
    memory: null
    redis-main: {type: Redis, url: "redis://redis.example:6379"}
secrets:
  existing:
    - {provider: redis-main, key: password, secretName: orbit-redis, secretKey: pw}
  create: true
  values:
    - {provider: redis-main, key: username, value: chart-test-user-value}
replicaCount: 2
persistence: {enabled: false}
`, check: func(t *testing.T, r *rendered) {
		env, _ := r.container(t)["env"].([]any)
		got := map[string]map[string]any{}
		for _, e := range env {
			e := e.(map[string]any)
			if _, plain := e["value"]; plain {
				t.Errorf("env %v: a provider secret must come from a Secret, not a literal value", e["name"])
			}
			ref, _ := field(e, "valueFrom", "secretKeyRef").(map[string]any)
			got[e["name"].(string)] = ref
		}
		if ref := got["ORBIT_PROVIDER_REDIS_MAIN_PASSWORD"]; ref == nil || ref["name"] != "orbit-redis" || ref["key"] != "pw" {
			t.Errorf("ORBIT_PROVIDER_REDIS_MAIN_PASSWORD from %v, want Secret orbit-redis key pw (env %v)", ref, env)
		}
		s := r.want(t, "Secret", release+"-provider-secrets")
		if ref := got["ORBIT_PROVIDER_REDIS_MAIN_USERNAME"]; ref == nil || ref["name"] != s.GetName() || ref["key"] != "ORBIT_PROVIDER_REDIS_MAIN_USERNAME" {
			t.Errorf("ORBIT_PROVIDER_REDIS_MAIN_USERNAME from %v, want the chart's Secret %s", ref, s.GetName())
		}
		if _, ok := field(s.Object, "data", "ORBIT_PROVIDER_REDIS_MAIN_USERNAME").(string); !ok {
			t.Errorf("chart Secret data = %v, want key ORBIT_PROVIDER_REDIS_MAIN_USERNAME", s.Object["data"])
		}
		// The variables name keys of the configured provider: the server's
		// own override logic accepts them.
		cfg := r.orbitConfig(t, []string{"ORBIT_PROVIDER_REDIS_MAIN_PASSWORD=p", "ORBIT_PROVIDER_REDIS_MAIN_USERNAME=u"})
		if rc, ok := cfg.Providers["redis-main"].(*config.RedisConfig); !ok || rc.Username != "u" {
			t.Errorf("redis-main after the overrides = %#v, want username u", cfg.Providers["redis-main"])
		}
		if got := num(r.workload(t).Object, "spec", "replicas"); got != 2 {
			t.Errorf("replicas = %d, want 2 (a shared provider)", got)
		}
		for _, o := range r.objs {
			if o.GetKind() != "Secret" && bytes.Contains(mustJSON(t, o), []byte("chart-test-user-value")) {
				t.Errorf("%s %s holds the secret value in clear", o.GetKind(), o.GetName())
			}
		}
	}},
	{name: "tls-auth", values: `
tls: {secretName: orbit-tls}
config:
  server:
    auth: {mode: "on", tokens: ["ops:sha256:` + strings.Repeat("ab", 32) + `"], grants: ["ops=admin@*"]}
probes:
  readiness: {grpc: {port: 50051}, periodSeconds: 5}
`, check: func(t *testing.T, r *rendered) {
		c := r.container(t)
		if got := str(c, "livenessProbe", "httpGet", "scheme"); got != "HTTPS" {
			t.Errorf("liveness scheme with TLS = %q, want HTTPS (the admin port follows gRPC's TLS)", got)
		}
		if got := num(c, "readinessProbe", "grpc", "port"); got != 50051 {
			t.Errorf("readiness grpc port = %d, want 50051 (the override)", got)
		}
		args := strs(c["args"])
		for _, want := range []string{"--tls-cert=/etc/orbit/tls/tls.crt", "--tls-key=/etc/orbit/tls/tls.key"} {
			if !slices.Contains(args, want) {
				t.Errorf("args %v lack %s", args, want)
			}
		}
		cfg := r.orbitConfig(t, nil)
		if cfg.Server.Auth == nil || cfg.Server.Auth.Mode != "on" {
			t.Errorf("[server.auth] = %#v, want mode on", cfg.Server.Auth)
		}
	}},
	{name: "mtls-tcp-probes", values: `
tls: {secretName: orbit-tls, clientCA: true}
probes:
  liveness: {tcpSocket: {port: admin}, periodSeconds: 10}
  readiness: {tcpSocket: {port: grpc}, periodSeconds: 5}
`, check: func(t *testing.T, r *rendered) {
		c := r.container(t)
		if !slices.Contains(strs(c["args"]), "--tls-client-ca=/etc/orbit/tls/ca.crt") {
			t.Errorf("args %v lack --tls-client-ca", c["args"])
		}
		if field(c, "livenessProbe", "httpGet") != nil || str(c, "livenessProbe", "tcpSocket", "port") != "admin" {
			t.Errorf("livenessProbe = %v, want the tcpSocket override alone", c["livenessProbe"])
		}
	}},
	{name: "example-etcd", files: []string{"orbit/examples/etcd.yaml"}, check: func(t *testing.T, r *rendered) {
		cfg := r.orbitConfig(t, []string{"ORBIT_PROVIDER_ETCD_PASSWORD=p"})
		if _, ok := cfg.Providers["etcd"].(*config.EtcdConfig); !ok || len(cfg.Providers) != 1 {
			t.Errorf("providers = %v, want etcd alone", cfg.Providers)
		}
		r.none(t, "PersistentVolumeClaim", "Role")
	}},
	{name: "example-redis", files: []string{"orbit/examples/redis.yaml"}, check: func(t *testing.T, r *rendered) {
		cfg := r.orbitConfig(t, []string{"ORBIT_PROVIDER_REDIS_PASSWORD=p"})
		if _, ok := cfg.Providers["redis"].(*config.RedisConfig); !ok || len(cfg.Providers) != 1 {
			t.Errorf("providers = %v, want redis alone", cfg.Providers)
		}
	}},
	{name: "example-flash-statefulset", files: []string{"orbit/examples/flash-statefulset.yaml"}, check: func(t *testing.T, r *rendered) {
		if w := r.workload(t); w.GetKind() != "StatefulSet" {
			t.Errorf("workload kind = %s, want StatefulSet", w.GetKind())
		}
		cfg := r.orbitConfig(t, nil)
		if f, ok := cfg.Providers["flash"].(*config.FlashConfig); !ok || !strings.HasPrefix(f.DataDir, "/data/") {
			t.Errorf("flash provider = %#v, want data_dir under /data", cfg.Providers["flash"])
		}
	}},
	{name: "raw-config", values: "config:\n  raw: |\n    [providers.m]\n    type = \"Memory\"\n    max_entries = 5\n", check: func(t *testing.T, r *rendered) {
		cfg := r.orbitConfig(t, nil)
		if m, ok := cfg.Providers["m"].(*config.MemoryConfig); !ok || m.MaxEntries != 5 || len(cfg.Providers) != 1 {
			t.Errorf("providers = %v, want the raw file's m alone", cfg.Providers)
		}
	}},
}

// refusals are value sets the chart must refuse, with a part of the error.
var refusals = []struct {
	name, values, want string
}{
	{"per-process-replicas", "replicaCount: 2\n", "Memory or Flash provider"},
	{"raw-per-process-replicas", "replicaCount: 3\nconfig: {raw: \"[providers.f]\\ntype = \\\"Flash\\\"\\ndata_dir = \\\"/data/f\\\"\\n\"}\n", "Memory or Flash provider"},
	{"deployment-replicas-one-claim", "replicaCount: 2\nconfig: {defaults: {addressable: r, cluster: r}, providers: {memory: null, r: {type: Redis}}}\n", "claim"},
	{"latest-tag", "image: {tag: latest}\n", "latest"},
	{"bad-kind", "workload: {kind: DaemonSet}\n", "workload"},
	{"fractional-number", "config: {providers: {memory: {type: Memory, max_entries: 1.5}}}\n", "max_entries"},
	{"unknown-value", "replicas: 2\n", "replicas"},
	{"mtls-http-probes", "tls: {secretName: t, clientCA: true}\n", "client certificate"},
	{"two-probe-handlers", "probes: {readiness: {grpc: {port: 50051}, tcpSocket: {port: admin}}}\n", "one handler"},
	{"kubernetes-other-namespace", "rbac: {create: true}\nconfig: {defaults: {addressable: k, cluster: k}, providers: {memory: null, k: {type: Kubernetes, namespace: elsewhere, in_cluster: true}}}\npersistence: {enabled: false}\n", "release namespace"},
	{"bad-secret-key", "secrets: {existing: [{provider: redis, key: Pass-Word, secretName: s, secretKey: k}]}\n", "key"},
}

// helmBin returns the helm program: on PATH, else .tools/bin/helm. When
// neither exists it skips the test, or fails it with ORBIT_REQUIRE_BACKENDS=1.
func helmBin(t testing.TB) string {
	t.Helper()
	p, where := testbackend.FindTool("helm", toolsHelm)
	if p != "" {
		return p
	}
	return testbackend.Require(t, "helm", installHint+" (it builds "+where+", which these tests look for after PATH)")
}

// helm runs the helm CLI with its configuration, cache and data folders in
// a temporary folder (nothing of the user's is read or written) and
// returns its standard output, or an error quoting its standard error.
func helm(t testing.TB, bin string, args ...string) ([]byte, error) {
	t.Helper()
	home := t.TempDir()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"), "HELM_DATA_HOME="+filepath.Join(home, "data"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("helm %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.Bytes(), nil
}

// valueArgs returns the -f arguments of vs (its values written to a file).
func valueArgs(t testing.TB, files []string, values string) []string {
	t.Helper()
	var args []string
	for _, f := range files {
		args = append(args, "-f", f)
	}
	if values != "" {
		p := filepath.Join(t.TempDir(), "values.yaml")
		if err := os.WriteFile(p, []byte(values), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "-f", p)
	}
	return args
}

// rendered is the output of `helm template` for one value set.
type rendered struct {
	ns   string
	objs []*unstructured.Unstructured
}

// render runs `helm template` in namespace ns and decodes every object.
func render(t testing.TB, bin, ns string, files []string, values string) (*rendered, error) {
	t.Helper()
	args := append([]string{"template", release, chart, "--namespace", ns}, valueArgs(t, files, values)...)
	out, err := helm(t, bin, args...)
	if err != nil {
		return nil, err
	}
	r := &rendered{ns: ns}
	dec := k8syaml.NewYAMLOrJSONDecoder(bytes.NewReader(out), 4096)
	for {
		var m map[string]any
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("helm template output does not decode: %v\n%s", err, out)
		}
		if m == nil {
			continue
		}
		r.objs = append(r.objs, &unstructured.Unstructured{Object: m})
	}
	if len(r.objs) == 0 {
		t.Fatalf("helm template rendered no object:\n%s", out)
	}
	return r, nil
}

// all returns the objects of kind.
func (r *rendered) all(kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range r.objs {
		if o.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}

// want returns the object kind/name or fails the test.
func (r *rendered) want(t *testing.T, kind, name string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range r.all(kind) {
		if o.GetName() == name {
			return o
		}
	}
	t.Fatalf("no %s %s rendered (have %s)", kind, name, r.inventory())
	return nil
}

// none fails the test when an object of one of kinds is rendered.
func (r *rendered) none(t *testing.T, kinds ...string) {
	t.Helper()
	for _, k := range kinds {
		for _, o := range r.all(k) {
			t.Errorf("%s %s rendered, want none", k, o.GetName())
		}
	}
}

// inventory lists the rendered objects as kind/name.
func (r *rendered) inventory() string {
	var s []string
	for _, o := range r.objs {
		s = append(s, o.GetKind()+"/"+o.GetName())
	}
	sort.Strings(s)
	return strings.Join(s, ", ")
}

// workload returns the one Deployment or StatefulSet.
func (r *rendered) workload(t *testing.T) *unstructured.Unstructured {
	t.Helper()
	ws := append(r.all("Deployment"), r.all("StatefulSet")...)
	if len(ws) != 1 {
		t.Fatalf("want one Deployment or StatefulSet, have %s", r.inventory())
	}
	return ws[0]
}

// container returns the workload's one container.
func (r *rendered) container(t *testing.T) map[string]any {
	t.Helper()
	cs, _ := field(r.workload(t).Object, "spec", "template", "spec", "containers").([]any)
	if len(cs) != 1 {
		t.Fatalf("want one container, have %d", len(cs))
	}
	return cs[0].(map[string]any)
}

// orbitConfig decodes the ConfigMap's orbit.toml as orbit-server does
// (Parse, ApplyEnv with environ, Validate) and fails the test on an error.
func (r *rendered) orbitConfig(t *testing.T, environ []string) *config.Config {
	t.Helper()
	cm := r.want(t, "ConfigMap", release+"-config")
	toml := str(cm.Object, "data", "orbit.toml")
	cfg, err := config.Parse([]byte(toml), config.FormatTOML, "orbit.toml")
	if err == nil {
		err = cfg.ApplyEnv(environ)
	}
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		t.Fatalf("rendered orbit.toml: %v\n%s", err, toml)
	}
	return cfg
}

// checkCommon asserts what every value set must render.
func checkCommon(t *testing.T, r *rendered, appVersion string) {
	for _, o := range r.objs {
		if o.GetNamespace() != r.ns {
			t.Errorf("%s %s: namespace %q, want the release namespace %s", o.GetKind(), o.GetName(), o.GetNamespace(), r.ns)
		}
		l := o.GetLabels()
		for _, k := range []string{"app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/version", "app.kubernetes.io/managed-by", "helm.sh/chart"} {
			if l[k] == "" {
				t.Errorf("%s %s: no label %s (labels %v)", o.GetKind(), o.GetName(), k, l)
			}
		}
	}
	w := r.workload(t)
	pod := field(w.Object, "spec", "template", "spec").(map[string]any)
	psc := field(pod, "securityContext")
	if b, _ := field(psc, "runAsNonRoot").(bool); !b || num(psc, "runAsUser") != 65532 || str(psc, "seccompProfile", "type") != "RuntimeDefault" {
		t.Errorf("pod securityContext = %v, want runAsNonRoot, runAsUser 65532, seccompProfile RuntimeDefault", psc)
	}
	c := r.container(t)
	sc := c["securityContext"]
	for _, k := range []string{"runAsNonRoot", "readOnlyRootFilesystem"} {
		if b, _ := field(sc, k).(bool); !b {
			t.Errorf("container securityContext.%s = %v, want true", k, field(sc, k))
		}
	}
	if b, ok := field(sc, "allowPrivilegeEscalation").(bool); !ok || b {
		t.Errorf("container securityContext.allowPrivilegeEscalation = %v, want false", field(sc, "allowPrivilegeEscalation"))
	}
	if got := strs(field(sc, "capabilities", "drop")); !slices.Equal(got, []string{"ALL"}) {
		t.Errorf("container capabilities.drop = %v, want [ALL]", got)
	}
	if num(sc, "runAsUser") != 65532 || str(sc, "seccompProfile", "type") != "RuntimeDefault" {
		t.Errorf("container securityContext = %v, want runAsUser 65532, seccompProfile RuntimeDefault", sc)
	}
	image := str(c, "image")
	if image != "orbit-server:"+appVersion {
		t.Errorf("image = %q, want orbit-server:%s (the chart's appVersion)", image, appVersion)
	}
	if strings.HasSuffix(image, ":latest") || !strings.Contains(image, ":") || str(c, "imagePullPolicy") == "" {
		t.Errorf("image %q with pull policy %q: want a pinned tag and an explicit policy", image, str(c, "imagePullPolicy"))
	}
	args := strs(c["args"])
	for _, want := range []string{"serve", "--config=/etc/orbit/orbit.toml", "--admin-addr=0.0.0.0:9464", "--port=50051"} {
		if !slices.Contains(args, want) {
			t.Errorf("args %v lack %s", args, want)
		}
	}
	if field(c, "livenessProbe", "httpGet") != nil || c["livenessProbe"] == nil {
		if got := str(c, "livenessProbe", "httpGet", "path"); got != "/healthz" || str(c, "livenessProbe", "httpGet", "port") != "admin" {
			t.Errorf("livenessProbe = %v, want GET /healthz on port admin", c["livenessProbe"])
		}
	}
	if field(c, "readinessProbe", "httpGet") != nil || c["readinessProbe"] == nil {
		if got := str(c, "readinessProbe", "httpGet", "path"); got != "/readyz" || str(c, "readinessProbe", "httpGet", "port") != "admin" {
			t.Errorf("readinessProbe = %v, want GET /readyz on port admin", c["readinessProbe"])
		}
	}
	for _, probe := range []string{"livenessProbe", "readinessProbe", "startupProbe"} {
		pr, ok := c[probe].(map[string]any)
		if !ok {
			continue
		}
		var handlers []string
		for _, h := range []string{"httpGet", "grpc", "tcpSocket", "exec"} {
			if pr[h] != nil {
				handlers = append(handlers, h)
			}
		}
		if len(handlers) != 1 {
			t.Errorf("%s handlers %v, want exactly one", probe, handlers)
		}
	}
	ports := map[string]int64{}
	for _, p := range c["ports"].([]any) {
		ports[str(p, "name")] = num(p, "containerPort")
	}
	if ports["grpc"] != 50051 || ports["admin"] != 9464 {
		t.Errorf("container ports = %v, want grpc 50051 and admin 9464", ports)
	}
	for _, k := range []string{"requests", "limits"} {
		if str(c, "resources", k, "memory") == "" || str(c, "resources", k, "cpu") == "" {
			t.Errorf("resources.%s = %v, want cpu and memory", k, field(c, "resources", k))
		}
	}
	ann := field(w.Object, "spec", "template", "metadata", "annotations")
	if str(ann, "prometheus.io/scrape") != "true" || str(ann, "prometheus.io/port") != "9464" || str(ann, "prometheus.io/path") != "/metrics" {
		t.Errorf("pod annotations = %v, want prometheus.io/scrape true, port 9464, path /metrics", ann)
	}
	if str(ann, "checksum/config") == "" {
		t.Errorf("pod annotations = %v, want checksum/config (a configuration change rolls the pods)", ann)
	}
	if got := num(r.want(t, "Service", release).Object, "spec", "ports", "[name=grpc]", "port"); got != 50051 {
		t.Errorf("gRPC Service port = %d, want 50051", got)
	}
	if got := num(r.want(t, "Service", release+"-admin").Object, "spec", "ports", "[name=admin]", "port"); got != 9464 {
		t.Errorf("admin Service port = %d, want 9464", got)
	}
	r.want(t, "PodDisruptionBudget", release)
	r.want(t, "ServiceAccount", release)
	if rbac := len(r.all("Role")) + len(r.all("RoleBinding")); rbac != 0 && rbac != 2 {
		t.Errorf("Role and RoleBinding come together; have %s", r.inventory())
	}
}

// appVersion reads the chart's appVersion from Chart.yaml.
func appVersion(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(chart, "Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := k8syaml.Unmarshal(b, &m); err != nil {
		t.Fatalf("Chart.yaml: %v", err)
	}
	v, _ := m["appVersion"].(string)
	if v == "" {
		t.Fatal("Chart.yaml: no appVersion")
	}
	return v
}

// TestLint runs `helm lint --strict` with each value set.
func TestLint(t *testing.T) {
	bin := helmBin(t)
	for _, vs := range valueSets {
		t.Run(vs.name, func(t *testing.T) {
			args := append([]string{"lint", "--strict", chart, "--namespace", "orbit"}, valueArgs(t, vs.files, vs.values)...)
			if out, err := helm(t, bin, args...); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
		})
	}
}

// TestRender renders each value set and checks its objects, and checks
// that the chart refuses the value combinations that cannot work.
func TestRender(t *testing.T) {
	bin := helmBin(t)
	av := appVersion(t)
	for _, vs := range valueSets {
		t.Run(vs.name, func(t *testing.T) {
			r, err := render(t, bin, "orbit-test", vs.files, vs.values)
			if err != nil {
				t.Fatal(err)
			}
			checkCommon(t, r, av)
			vs.check(t, r)
		})
	}
	for _, c := range refusals {
		t.Run("refuses-"+c.name, func(t *testing.T) {
			_, err := render(t, bin, "orbit-test", nil, c.values)
			if err == nil {
				t.Fatalf("values %q rendered, want an error naming %q", c.values, c.want)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error does not name %q: %v", c.want, err)
			}
		})
	}
}

// TestNotesHideSecrets renders NOTES.txt (helm install --dry-run, which
// contacts no cluster) and checks that it names the secret variables
// without their values.
func TestNotesHideSecrets(t *testing.T) {
	bin := helmBin(t)
	values := "secrets:\n  create: true\n  values:\n    - {provider: memory, key: disk_backup.path, value: notes-secret-value}\n  existing:\n    - {provider: memory, key: max_entries, secretName: s, secretKey: k}\n"
	args := append([]string{"install", release, chart, "--namespace", "orbit", "--dry-run=client"}, valueArgs(t, nil, values)...)
	out, err := helm(t, bin, args...)
	if err != nil {
		t.Fatal(err)
	}
	notes := string(out)
	if i := strings.Index(notes, "NOTES:"); i >= 0 {
		notes = notes[i:]
	} else {
		t.Fatalf("no NOTES in the output:\n%s", out)
	}
	for _, want := range []string{"ORBIT_PROVIDER_MEMORY_DISK_BACKUP__PATH", "ORBIT_PROVIDER_MEMORY_MAX_ENTRIES from Secret s, key k", "authentication is off"} {
		if !strings.Contains(notes, want) {
			t.Errorf("NOTES lack %q:\n%s", want, notes)
		}
	}
	if strings.Contains(notes, "notes-secret-value") {
		t.Errorf("NOTES show a secret value:\n%s", notes)
	}
}

// TestApply applies every object of every value set with server-side
// apply and strict field validation to a real kube-apiserver, each value
// set in a namespace of its own, and checks that a broken object is refused.
// The ServiceMonitor kind comes from a minimal CustomResourceDefinition
// (serviceMonitorCRD), a bare API server having none.
func TestApply(t *testing.T) {
	bin := helmBin(t)
	srv := kubetest.Start(t)
	ctx := context.Background()
	cfg := srv.AdminConfig()
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	installServiceMonitorCRD(t, ctx, dyn, mapper)

	var deployment, monitor *unstructured.Unstructured
	for _, vs := range valueSets {
		t.Run(vs.name, func(t *testing.T) {
			ns := srv.Namespace(t, "chart")
			r, err := render(t, bin, ns, vs.files, vs.values)
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range r.objs {
				if err := apply(ctx, dyn, mapper, o); err != nil {
					t.Errorf("%v", err)
				}
				if o.GetKind() == "Deployment" && deployment == nil {
					deployment = o.DeepCopy()
				}
				if o.GetKind() == "ServiceMonitor" && monitor == nil {
					monitor = o.DeepCopy()
				}
			}
			// What was applied is what the server holds.
			w := r.workload(t)
			m, err := mapper.RESTMapping(w.GroupVersionKind().GroupKind(), w.GroupVersionKind().Version)
			if err != nil {
				t.Fatal(err)
			}
			got, err := dyn.Resource(m.Resource).Namespace(ns).Get(ctx, w.GetName(), metav1.GetOptions{})
			if err != nil {
				t.Fatalf("get %s %s: %v", w.GetKind(), w.GetName(), err)
			}
			if u := num(got.Object, "spec", "template", "spec", "securityContext", "runAsUser"); u != 65532 {
				t.Errorf("%s %s on the server: runAsUser %d, want 65532", w.GetKind(), w.GetName(), u)
			}
		})
	}

	t.Run("BrokenObjectsAreRefused", func(t *testing.T) {
		if deployment == nil || monitor == nil {
			t.Fatal("no Deployment or no ServiceMonitor was rendered")
		}
		ns := srv.Namespace(t, "broken")
		// Each break, and a part of the server's refusal naming it.
		broken := []struct {
			what, want string
			breakIt    func(o *unstructured.Unstructured)
		}{
			{"unknown field", "readinesProbe", func(o *unstructured.Unstructured) {
				c := field(o.Object, "spec", "template", "spec", "containers").([]any)[0].(map[string]any)
				c["readinesProbe"] = c["readinessProbe"]
			}},
			{"invalid port", "containerPort", func(o *unstructured.Unstructured) {
				c := field(o.Object, "spec", "template", "spec", "containers").([]any)[0].(map[string]any)
				c["ports"].([]any)[0].(map[string]any)["containerPort"] = int64(70000)
			}},
			{"selector not matching the pod labels", "selector", func(o *unstructured.Unstructured) {
				field(o.Object, "spec", "selector", "matchLabels").(map[string]any)["app.kubernetes.io/name"] = "other"
			}},
			{"probe with two handlers", "handler", func(o *unstructured.Unstructured) {
				c := field(o.Object, "spec", "template", "spec", "containers").([]any)[0].(map[string]any)
				c["readinessProbe"].(map[string]any)["grpc"] = map[string]any{"port": int64(50051)}
			}},
			{"ServiceMonitor field unknown to the CRD", "intervall", func(o *unstructured.Unstructured) {
				*o = *monitor.DeepCopy()
				field(o.Object, "spec", "endpoints").([]any)[0].(map[string]any)["intervall"] = "30s"
			}},
		}
		for _, b := range broken {
			o := deployment.DeepCopy()
			b.breakIt(o)
			o.SetNamespace(ns)
			o.SetName("broken-" + strings.ReplaceAll(strings.ToLower(b.what), " ", "-"))
			err := apply(ctx, dyn, mapper, o)
			switch {
			case err == nil:
				t.Errorf("%s: applied, want a refusal", b.what)
			case !strings.Contains(err.Error(), b.want):
				t.Errorf("%s: refused with %v, want an error naming %q", b.what, err, b.want)
			}
		}
	})
}

// apply server-side-applies o (force, strict field validation: an unknown
// or duplicate field is an error) as fieldManager.
func apply(ctx context.Context, dyn dynamic.Interface, mapper meta.RESTMapper, o *unstructured.Unstructured) error {
	gvk := o.GroupVersionKind()
	m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return fmt.Errorf("%s %s: no resource for it on the server: %w", gvk, o.GetName(), err)
	}
	data, err := o.MarshalJSON()
	if err != nil {
		return fmt.Errorf("%s %s: %w", gvk.Kind, o.GetName(), err)
	}
	var ri dynamic.ResourceInterface = dyn.Resource(m.Resource)
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		ri = dyn.Resource(m.Resource).Namespace(o.GetNamespace())
	}
	force := true
	_, err = ri.Patch(ctx, o.GetName(), types.ApplyPatchType, data,
		metav1.PatchOptions{FieldManager: fieldManager, Force: &force, FieldValidation: "Strict"})
	if err != nil {
		return fmt.Errorf("server-side apply of %s %s/%s: %w", gvk.Kind, o.GetNamespace(), o.GetName(), err)
	}
	return nil
}

// serviceMonitorCRD is a minimal CustomResourceDefinition of the
// Prometheus Operator's ServiceMonitor (monitoring.coreos.com/v1): the
// structural schema of the fields this chart renders, taken from the
// operator's, with everything else unknown (so strict validation refuses
// a misspelt field).
const serviceMonitorCRD = `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: servicemonitors.monitoring.coreos.com
spec:
  group: monitoring.coreos.com
  scope: Namespaced
  names: {kind: ServiceMonitor, listKind: ServiceMonitorList, plural: servicemonitors, singular: servicemonitor}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          required: [spec]
          properties:
            spec:
              type: object
              required: [selector]
              properties:
                selector:
                  type: object
                  properties:
                    matchLabels: {type: object, additionalProperties: {type: string}}
                namespaceSelector:
                  type: object
                  properties:
                    any: {type: boolean}
                    matchNames: {type: array, items: {type: string}}
                endpoints:
                  type: array
                  items:
                    type: object
                    properties:
                      port: {type: string}
                      path: {type: string}
                      scheme: {type: string, enum: [http, https, HTTP, HTTPS]}
                      interval: {type: string, pattern: '^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$'}
                      scrapeTimeout: {type: string, pattern: '^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$'}
                      tlsConfig:
                        type: object
                        properties:
                          insecureSkipVerify: {type: boolean}
                      authorization:
                        type: object
                        properties:
                          type: {type: string}
                          credentials:
                            type: object
                            required: [key]
                            properties:
                              name: {type: string}
                              key: {type: string}
`

// installServiceMonitorCRD applies serviceMonitorCRD and waits until the
// API server serves the kind.
func installServiceMonitorCRD(t *testing.T, ctx context.Context, dyn dynamic.Interface, mapper *restmapper.DeferredDiscoveryRESTMapper) {
	t.Helper()
	var m map[string]any
	if err := k8syaml.Unmarshal([]byte(serviceMonitorCRD), &m); err != nil {
		t.Fatalf("serviceMonitorCRD: %v", err)
	}
	crd := &unstructured.Unstructured{Object: m}
	if err := apply(ctx, dyn, mapper, crd); err != nil {
		t.Fatal(err)
	}
	crdRes := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	deadline := time.Now().Add(60 * time.Second)
	for {
		var err error
		var got *unstructured.Unstructured
		if got, err = dyn.Resource(crdRes).Get(ctx, crd.GetName(), metav1.GetOptions{}); err == nil {
			if field(got.Object, "status", "conditions", "[type=Established]", "status") != "True" {
				err = errors.New("not Established yet")
			} else {
				mapper.Reset()
				_, err = mapper.RESTMapping(schema.GroupKind{Group: "monitoring.coreos.com", Kind: "ServiceMonitor"}, "v1")
			}
		}
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the ServiceMonitor CustomResourceDefinition is not served 60 s after its creation: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// field walks obj along path: a map key, or "[k=v]" for the element of a
// list of maps whose field k (a dotted path) is v. It returns nil when the path does not exist.
func field(obj any, path ...string) any {
	cur := obj
	for _, p := range path {
		if strings.HasPrefix(p, "[") && strings.HasSuffix(p, "]") {
			k, v, _ := strings.Cut(p[1:len(p)-1], "=")
			list, _ := cur.([]any)
			cur = nil
			for _, e := range list {
				if got := field(e, strings.Split(k, ".")...); got != nil && fmt.Sprint(got) == v {
					cur = e
					break
				}
			}
			continue
		}
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[p]
	}
	return cur
}

// str is field as a string ("" when absent or not a string).
func str(obj any, path ...string) string {
	s, _ := field(obj, path...).(string)
	return s
}

// num is field as an integer (-1 when absent or not a number).
func num(obj any, path ...string) int64 {
	switch v := field(obj, path...).(type) {
	case int64:
		return v
	case float64:
		return int64(v)
	case int:
		return int64(v)
	}
	return -1
}

// strs is a list of strings (nil when v is not one).
func strs(v any) []string {
	l, _ := v.([]any)
	var out []string
	for _, e := range l {
		s, _ := e.(string)
		out = append(out, s)
	}
	return out
}

// mustJSON encodes o.
func mustJSON(t *testing.T, o *unstructured.Unstructured) []byte {
	t.Helper()
	b, err := o.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestGeneratedManifests renders deploy/kubernetes/ again with
// scripts/gen-k8s-manifests.sh into a temporary folder and compares: the
// committed plain manifests must be what the chart renders today.
func TestGeneratedManifests(t *testing.T) {
	bin := helmBin(t)
	root, err := testbackend.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	cmd := exec.Command(filepath.Join(root, "scripts", "gen-k8s-manifests.sh"), out)
	cmd.Env = append(os.Environ(), "HELM="+bin)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("scripts/gen-k8s-manifests.sh: %v\n%s", err, b)
	}
	committed := filepath.Join(root, "deploy", "kubernetes")
	list := func(dir string) []string {
		files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, f := range files {
			names = append(names, filepath.Base(f))
		}
		return names
	}
	want, got := list(out), list(committed)
	if len(want) == 0 {
		t.Fatal("scripts/gen-k8s-manifests.sh wrote no file")
	}
	if !slices.Equal(want, got) {
		t.Errorf("deploy/kubernetes holds %v, the chart renders %v: run ./scripts/gen-k8s-manifests.sh", got, want)
	}
	for _, name := range want {
		w, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		g, err := os.ReadFile(filepath.Join(committed, name))
		if err != nil {
			t.Errorf("deploy/kubernetes/%s: %v: run ./scripts/gen-k8s-manifests.sh", name, err)
			continue
		}
		if !bytes.Equal(w, g) {
			t.Errorf("deploy/kubernetes/%s is not what the chart renders: run ./scripts/gen-k8s-manifests.sh and commit it\n--- rendered\n%s", name, w)
		}
	}
}

// freeForm are the values whose content is passed through (Kubernetes or
// orbit.toml objects): their own keys are not chart values.
var freeForm = map[string]bool{
	"commonLabels": true, "strategy": true, "updateStrategy": true, "config.defaults": true, "config.providers": true,
	"config.server": true, "persistence.annotations": true, "persistence.retentionPolicy": true,
	"serviceAccount.annotations": true, "service.annotations": true, "adminService.annotations": true,
	"serviceMonitor.labels": true, "serviceMonitor.bearerTokenSecret": true, "resources": true,
	"podSecurityContext": true, "securityContext": true, "probes.liveness": true, "probes.readiness": true,
	"probes.startup": true, "podAnnotations": true, "podLabels": true, "nodeSelector": true, "affinity": true,
}

// TestValuesDocumented checks that every value of values.yaml has a
// comment there, is declared in values.schema.json and is in the table of
// docs/helm.md (which needs no helm).
func TestValuesDocumented(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(chart, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var values map[string]any
	if err := k8syaml.Unmarshal(raw, &values); err != nil {
		t.Fatalf("values.yaml: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(chart, "values.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var schema map[string]any
	if err := k8syaml.Unmarshal(b, &schema); err != nil {
		t.Fatalf("values.schema.json: %v", err)
	}
	root, err := testbackend.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(filepath.Join(root, "docs", "helm.md"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(raw), "\n")
	// walk checks the keys of m, set in values.yaml from line from on.
	var walk func(prefix string, m map[string]any, props map[string]any, indent string, from int)
	walk = func(prefix string, m map[string]any, props map[string]any, indent string, from int) {
		for k, v := range m {
			path := strings.TrimPrefix(prefix+"."+k, ".")
			// The line that sets the key, and a comment right above it (or,
			// for a group, above one of its keys).
			i := slices.IndexFunc(lines[from:], func(l string) bool { return strings.HasPrefix(l, indent+k+":") })
			if i >= 0 {
				i += from
			}
			if i < 0 {
				t.Errorf("values.yaml: %s: no line %q", path, indent+k+":")
			} else if sub, group := v.(map[string]any); !(group && !freeForm[path] && len(sub) > 0) &&
				(i == 0 || !strings.HasPrefix(strings.TrimSpace(lines[i-1]), "#")) {
				t.Errorf("values.yaml: %s has no comment above it", path)
			}
			p, _ := props[k].(map[string]any)
			if p == nil {
				t.Errorf("values.schema.json: %s is not declared", path)
			}
			sub, isMap := v.(map[string]any)
			if isMap && !freeForm[path] && len(sub) > 0 {
				sp, _ := p["properties"].(map[string]any)
				walk(path, sub, sp, indent+"  ", max(i, 0))
				continue
			}
			if !bytes.Contains(doc, []byte("`"+path+"`")) && !bytes.Contains(doc, []byte("`"+path+"`,")) {
				t.Errorf("docs/helm.md: value %s is not in the table", path)
			}
		}
	}
	props, _ := schema["properties"].(map[string]any)
	walk("", values, props, "", 0)
}
