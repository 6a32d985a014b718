package server

import (
	"net/http"
	"strings"

	"github.com/orbit-go/orbit/persistence"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// adminHandler serves /metrics, /healthz (the process is up), /readyz
// (the default providers are not unhealthy), the status page and, when
// enabled, pprof. protectAdmin puts it behind the admin auth.
func (s *Server) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(s.prom, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	s.mountStatusPage(mux)
	s.mountPprof(mux)
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		if reason := s.backendPending(); reason != "" {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("storage backend not available yet (retrying): " + reason + "\n"))
			return
		}
		var b strings.Builder
		ready := true
		for _, p := range s.providers {
			h := p.HealthCheck(r.Context())
			if h.Status == persistence.Unhealthy {
				ready = false
			}
			b.WriteString(p.Name() + ": " + h.Status.String())
			if h.Reason != "" {
				b.WriteString(" (" + h.Reason + ")")
			}
			b.WriteString("\n")
		}
		if !ready {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_, _ = w.Write([]byte(b.String()))
	})
	return mux
}
