package server

import (
	"context"

	orbitv1 "github.com/orbit-go/orbit/api/orbit/v1"
	"github.com/orbit-go/orbit/persistence"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// checkHealth sets the gRPC health status from the default providers.
func (s *Server) checkHealth(ctx context.Context) {
	if !s.backend.open.Load() {
		return // NOT_SERVING until openLoop has opened it
	}
	serving := true
	for _, p := range s.providers {
		h := p.HealthCheck(ctx)
		s.metrics.providerHealth.WithLabelValues(p.Name()).Set(float64(h.Status))
		if h.Status == persistence.Unhealthy {
			serving = false
			s.log.Warn("default provider unhealthy", "provider", p.Name(), "reason", h.Reason)
		}
	}
	st := healthpb.HealthCheckResponse_SERVING
	if !serving {
		st = healthpb.HealthCheckResponse_NOT_SERVING
	}
	s.health.SetServingStatus("", st)
	s.health.SetServingStatus(orbitv1.NodeService_ServiceDesc.ServiceName, st)
	s.health.SetServingStatus(orbitv1.AddressableService_ServiceDesc.ServiceName, st)
	s.mu.Lock()
	s.ready = serving
	s.mu.Unlock()
}
