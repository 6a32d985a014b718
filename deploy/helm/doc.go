// Package helm holds the tests of the Helm chart of orbit-server
// (deploy/helm/orbit; docs/helm.md). It has no code of its own.
//
// The tests run the helm CLI that ./scripts/install-test-backends.sh
// builds into .tools/bin/helm (or a helm on PATH):
//
//   - TestLint: `helm lint --strict` with every value set of the tests;
//   - TestRender: `helm template` with each value set, and the properties
//     of the objects it renders (security context, probes, image, RBAC only
//     when asked, the orbit.toml parsed and validated by persistence/config,
//     ...), and the value combinations the chart must refuse;
//   - TestApply: every rendered object applied with server-side apply
//     (strict field validation) to a real kube-apiserver
//     (internal/testbackend/kubetest), ServiceMonitor included through a
//     minimal CustomResourceDefinition; a broken object must be refused;
//   - TestValuesDocumented: every value of values.yaml has a comment, a
//     schema entry and a row in docs/helm.md;
//   - TestGeneratedManifests: deploy/kubernetes/ is what
//     ./scripts/gen-k8s-manifests.sh renders from the chart today.
//
// Without helm (or kube-apiserver, for TestApply) the tests skip, or fail
// when ORBIT_REQUIRE_BACKENDS=1 (testbackend.Require).
package helm
