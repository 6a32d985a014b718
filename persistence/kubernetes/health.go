package kubernetes

import (
	"context"
	"fmt"
	"strings"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/orbit-go/orbit/persistence/driver"
)

// RequiredVerbs are the verbs the driver needs on configmaps in its
// namespace: exactly what deploy/kubernetes/role.yaml grants (watch only
// for Watch).
var RequiredVerbs = []string{"get", "list", "watch", "create", "update"}

// maxHealthTimeout bounds each request of a health check.
const maxHealthTimeout = 5 * time.Second

// HealthCheck reports the provider's health (driver.HealthChecker):
//
//   - Unhealthy when the store is closed, when the API server's /readyz
//     does not answer ok (the reason quotes it), or when the identity lacks
//     a permission the driver needs: a SelfSubjectAccessReview per verb of
//     RequiredVerbs on configmaps in the namespace, and the reason names
//     each missing verb and the resource ("may not update configmaps in
//     namespace orbit");
//   - Healthy otherwise.
//
// Every authenticated identity may read /readyz and create
// SelfSubjectAccessReviews (the default system:public-info-viewer and
// system:basic-user roles), so the check needs no extra permission.
func (s *Store) HealthCheck(ctx context.Context) driver.Health {
	if s.closed.Load() {
		return driver.Health{Status: driver.Unhealthy, Reason: "kubernetes store is closed"}
	}
	timeout := maxHealthTimeout
	if t := s.opts.RequestTimeout; t > 0 && t < timeout {
		timeout = t
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	body, err := s.client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(rctx)
	cancel()
	if err != nil {
		return driver.Health{Status: driver.Unhealthy, Reason: fmt.Sprintf("kubernetes API server not ready: /readyz: %v %s",
			err, strings.TrimSpace(string(body)))}
	}
	var missing []string
	for _, verb := range RequiredVerbs {
		actx, cancel := context.WithTimeout(ctx, timeout)
		review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
			ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: s.opts.Namespace, Verb: verb, Resource: configMapsResource},
		}}
		out, err := s.client.AuthorizationV1().SelfSubjectAccessReviews().Create(actx, review, metav1.CreateOptions{})
		cancel()
		if err != nil {
			return driver.Health{Status: driver.Unhealthy, Reason: fmt.Sprintf(
				"kubernetes: cannot check the permission to %s %s in namespace %s: %v", verb, configMapsResource, s.opts.Namespace, err)}
		}
		if !out.Status.Allowed {
			missing = append(missing, verb)
		}
	}
	if len(missing) > 0 {
		return driver.Health{Status: driver.Unhealthy, Reason: fmt.Sprintf(
			"kubernetes: this identity may not %s %s in namespace %s (the driver needs %s; grant them with deploy/kubernetes/role.yaml)",
			strings.Join(missing, ", "), configMapsResource, s.opts.Namespace, strings.Join(RequiredVerbs, ", "))}
	}
	return driver.Health{Status: driver.Healthy}
}
