package redis

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/orbit-go/orbit/persistence/driver"
)

// healthTimeout bounds a health check that has no deadline of its own.
const healthTimeout = 3 * time.Second

// HealthCheck pings every known node: Healthy when all answer (and, in
// cluster mode, the cluster state is ok), Unhealthy naming the nodes that
// do not. A Redis Cluster without replicas cannot serve the slots of a
// missing master, so a partial outage is Unhealthy too. The client
// reconnects by itself: the check turns Healthy again, without restarting
// Orbit, as soon as the server is back.
func (s *Store) HealthCheck(ctx context.Context) driver.Health {
	if s.closed.Load() {
		return driver.Health{Status: driver.Unhealthy, Reason: "store closed"}
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, healthTimeout)
		defer cancel()
	}
	nodes := s.client.Nodes()
	var down []string
	for addr, c := range nodes {
		if err := c.Do(ctx, c.B().Ping().Build()).Error(); err != nil {
			down = append(down, fmt.Sprintf("%s (%v)", addr, err))
		}
	}
	slices.Sort(down)
	if len(nodes) == 0 || len(down) == len(nodes) {
		reason := "no Redis node answers"
		if len(down) > 0 {
			reason += ": " + strings.Join(down, "; ")
		}
		return driver.Health{Status: driver.Unhealthy, Reason: reason}
	}
	if len(down) > 0 {
		return driver.Health{Status: driver.Unhealthy, Reason: fmt.Sprintf("%d of %d Redis nodes do not answer: %s", len(down), len(nodes), strings.Join(down, "; "))}
	}
	if s.cluster {
		info, err := s.client.Do(ctx, s.client.B().ClusterInfo().Build()).ToString()
		if err != nil {
			return driver.Health{Status: driver.Unhealthy, Reason: fmt.Sprintf("cluster info: %v", err)}
		}
		if !strings.Contains(info, "cluster_state:ok") {
			return driver.Health{Status: driver.Unhealthy, Reason: "cluster_state is not ok"}
		}
	}
	return driver.Health{Status: driver.Healthy}
}
