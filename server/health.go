package server

import (
	"context"
	"sync"

	orbitv1 "github.com/orbit-go/orbit/api/orbit/v1"
	"github.com/orbit-go/orbit/persistence"
	"github.com/orbit-go/orbit/persistence/driver"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// checkHealth checks every configured provider (in parallel, each bounded
// by its health timeout), keeps the results for ProviderStatuses and
// /readyz, exports them (orbit_server_provider_up, _status,
// _last_check_timestamp_seconds) and sets the gRPC health status from the
// default providers. It is the only caller of the providers' HealthCheck
// while serving: /readyz and grpc.health.v1 read what it stored.
func (s *Server) checkHealth(ctx context.Context) {
	s.setupMetrics()
	if !s.backend.open.Load() {
		return // NOT_SERVING until openLoop has opened it
	}
	addrDefault, clusterDefault := s.registry.Defaults()
	names := s.registry.Names()
	list := make([]ProviderStatus, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		p, err := s.registry.Provider(name)
		if err != nil {
			list[i] = ProviderStatus{Name: name, Health: persistence.Health{Status: persistence.Unhealthy, Reason: err.Error()}, CheckedAt: s.clock.Now()}
			continue
		}
		st := ProviderStatus{Name: name, Type: p.Type(), Capabilities: capabilityNames(p.Capabilities())}
		if name == addrDefault {
			st.Roles = append(st.Roles, "addressable")
		}
		if name == clusterDefault {
			st.Roles = append(st.Roles, "cluster")
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			st.Health = p.HealthCheck(ctx)
			st.CheckedAt = s.clock.Now()
			list[i] = st
		}()
	}
	wg.Wait()
	s.provStatus.set(list, s.clock.Now())
	serving := true
	for _, st := range list {
		s.metrics.setProvider(st)
		if len(st.Roles) == 0 {
			continue
		}
		if st.Health.Status == persistence.Unhealthy {
			serving = false
			s.log.Warn("default provider unhealthy", "provider", st.Name, "reason", st.Health.Reason)
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

// capabilityNames lists the capabilities c holds, in the contract's order.
func capabilityNames(c driver.Capabilities) []string {
	var names []string
	for _, cp := range driver.AllCapabilities {
		if c.Has(cp) {
			names = append(names, string(cp))
		}
	}
	return names
}
