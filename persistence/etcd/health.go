package etcd

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/orbit-go/orbit/persistence/driver"
)

// healthKey is read (linearizably) by HealthCheck; it never exists.
const healthKey = "h/probe"

// maxStatusTimeout bounds the status request to one endpoint.
const maxStatusTimeout = 2 * time.Second

// HealthCheck reports the cluster's health as seen from this client
// (driver.HealthChecker). It asks every configured endpoint for its status
// (in parallel, at most 2 s or the request timeout each) and makes one
// linearizable read under the prefix, which needs a quorum:
//
//   - Unhealthy: the store is closed, or the linearizable read failed (no
//     quorum, no leader, or no endpoint reachable; or the user may not read
//     the prefix); the reason names the error and the unreachable endpoints;
//   - Degraded: the read succeeded but some endpoints are unreachable (the
//     reason names them and their member names), or a member reports an
//     alarm (e.g. NOSPACE) or no leader;
//   - Healthy otherwise.
func (s *Store) HealthCheck(ctx context.Context) driver.Health {
	if s.closed.Load() {
		return driver.Health{Status: driver.Unhealthy, Reason: "etcd store is closed"}
	}
	eps := s.client.Endpoints()
	statusTimeout := maxStatusTimeout
	if t := s.opts.RequestTimeout; t > 0 && t < statusTimeout {
		statusTimeout = t
	}
	statuses := make([]*clientv3.StatusResponse, len(eps))
	errs := make([]error, len(eps))
	var wg sync.WaitGroup
	for i, ep := range eps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sctx, cancel := context.WithTimeout(ctx, statusTimeout)
			defer cancel()
			statuses[i], errs[i] = s.client.Status(sctx, ep)
		}()
	}
	rctx, cancel := s.opCtx(ctx)
	_, readErr := s.client.Get(rctx, s.full(healthKey), clientv3.WithCountOnly())
	cancel()
	wg.Wait()

	var unreachable, problems []string
	for i, ep := range eps {
		switch st := statuses[i]; {
		case errs[i] != nil:
			unreachable = append(unreachable, ep)
		case len(st.Errors) > 0:
			problems = append(problems, fmt.Sprintf("%s reports %s", ep, strings.Join(st.Errors, "; ")))
		case st.Leader == 0:
			problems = append(problems, ep+" has no leader")
		}
	}
	reach := fmt.Sprintf("%d of %d endpoints reachable", len(eps)-len(unreachable), len(eps))
	if readErr != nil && isPermission(readErr) {
		return driver.Health{Status: driver.Unhealthy, Reason: fmt.Sprintf(
			"etcd refuses to let this user read %q: %v (the user's role needs readwrite on the prefix range, see docs/etcd.md)",
			s.pfx, readErr)}
	}
	if readErr != nil {
		what := "etcd has no quorum"
		if len(unreachable) == len(eps) {
			what = "etcd is unreachable"
		}
		reason := fmt.Sprintf("%s: a linearizable read failed: %v (%s", what, classifyMsg(readErr), reach)
		if len(unreachable) > 0 {
			reason += "; unreachable: " + s.describe(ctx, unreachable)
		}
		return driver.Health{Status: driver.Unhealthy, Reason: reason + ")"}
	}
	if len(unreachable) > 0 {
		return driver.Health{Status: driver.Degraded,
			Reason: fmt.Sprintf("etcd endpoints unreachable: %s (%s; the cluster still has a quorum)", s.describe(ctx, unreachable), reach)}
	}
	if len(problems) > 0 {
		return driver.Health{Status: driver.Degraded, Reason: "etcd: " + strings.Join(problems, ", ")}
	}
	return driver.Health{Status: driver.Healthy}
}

// describe names unreachable endpoints with their member names when the
// member list can be read.
func (s *Store) describe(ctx context.Context, eps []string) string {
	names := map[string]string{}
	mctx, cancel := context.WithTimeout(ctx, maxStatusTimeout)
	defer cancel()
	if ml, err := s.client.MemberList(mctx, clientv3.WithSerializable()); err == nil {
		for _, m := range ml.Members {
			for _, u := range m.ClientURLs {
				names[u] = m.Name
			}
		}
	}
	out := make([]string, len(eps))
	for i, ep := range eps {
		out[i] = ep
		if n := names[ep]; n != "" {
			out[i] = fmt.Sprintf("%s (member %s)", ep, n)
		}
	}
	slices.Sort(out)
	return strings.Join(out, ", ")
}

// classifyMsg renders err for a health reason.
func classifyMsg(err error) string {
	return fmt.Sprintf("%v: %v", err, classify(err))
}
