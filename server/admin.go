package server

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/orbit-go/orbit/persistence"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// staleChecks is how many health intervals may pass without a completed
// health check before /readyz reports the server not ready (the health
// loop is stuck, or the clock jumped); at least as many default health
// timeouts, so that a short interval and a slow, bounded round do not
// make readiness flap.
const staleChecks = 3

// staleAfter is the age beyond which the last health check is stale.
func (s *Server) staleAfter() time.Duration {
	return max(staleChecks*s.timings.HealthInterval, staleChecks*persistence.DefaultHealthTimeout)
}

// adminHandler serves /metrics, /healthz (the process is up), /readyz
// (the default providers are not unhealthy, as the health loop last
// found), the status page and, when enabled, pprof. protectAdmin puts it
// behind the admin auth.
func (s *Server) adminHandler() http.Handler {
	s.setupMetrics() // build info and provider series before the first scrape
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(s.prom, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	s.mountStatusPage(mux)
	s.mountPprof(mux)
	mux.HandleFunc("/readyz", s.serveReadyz)
	return mux
}

// serveReadyz answers 200 when the server is ready, else 503, from the
// health loop's last round: it calls no provider. Not ready: the backend
// is not open yet, no round has completed, the last one is older than
// staleAfter, or a default provider was unhealthy. The
// body names the reason first when not ready, then one line per
// configured provider ("name: Status (reason)"; a provider that is no
// default is marked so, readiness ignores it) and the time of the last
// round with its age.
func (s *Server) serveReadyz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if reason := s.backendPending(); reason != "" {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("storage backend not available yet (retrying): " + reason + "\n"))
		return
	}
	body, ready := s.readiness(s.clock.Now())
	if !ready {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_, _ = w.Write([]byte(body))
}

// readiness is /readyz's body and verdict at now from the stored results.
func (s *Server) readiness(now time.Time) (string, bool) {
	list, at := s.provStatus.last()
	var notReady []string
	staleAfter := s.staleAfter()
	age := now.Sub(at)
	switch {
	case at.IsZero():
		notReady = append(notReady, "no health check has completed yet")
	case age > staleAfter:
		notReady = append(notReady, fmt.Sprintf("the last health check is stale: %s old, more than %s (health interval %s)",
			age.Round(time.Millisecond), staleAfter, s.timings.HealthInterval))
	}
	var b strings.Builder
	for _, st := range list {
		fmt.Fprintf(&b, "%s: %s", st.Name, st.Health.Status)
		if st.Health.Reason != "" {
			fmt.Fprintf(&b, " (%s)", oneLine(st.Health.Reason))
		}
		if len(st.Roles) == 0 {
			b.WriteString(" [not a default provider: readiness ignores it]")
		} else if st.Health.Status == persistence.Unhealthy {
			notReady = append(notReady, fmt.Sprintf("default provider %q is unhealthy", st.Name))
		}
		b.WriteString("\n")
	}
	if !at.IsZero() {
		fmt.Fprintf(&b, "last health check: %s (%s ago; stale after %s)\n",
			at.UTC().Format(time.RFC3339Nano), max(age, 0).Round(time.Millisecond), staleAfter)
	}
	if len(notReady) > 0 {
		return "not ready: " + strings.Join(notReady, "; ") + "\n" + b.String(), false
	}
	return b.String(), true
}

// oneLine keeps a health reason on its line of the body.
func oneLine(s string) string { return strings.ReplaceAll(s, "\n", "; ") }
