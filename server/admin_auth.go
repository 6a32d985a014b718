package server

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"

	"github.com/orbit-go/orbit/server/auth"
)

// The admin port's protection: when gRPC is served over TLS the admin
// listener is too, with the same certificate and client-certificate policy;
// when auth is on every path but /healthz (liveness probes) needs an
// identity with role reader (or admin) in some namespace.

// adminListener wraps l in TLS when gRPC has TLS.
func (s *Server) adminListener(l net.Listener) net.Listener {
	if s.tls == nil {
		return l
	}
	c := s.tls.Clone()
	c.NextProtos = []string{"http/1.1"}
	return tls.NewListener(l, c)
}

// protectAdmin returns h behind the auth check (h itself when auth is off).
// A refusal is 401 (no or bad credential, with WWW-Authenticate: Bearer)
// or 403 (identity without the role), its body naming the missing role.
func (s *Server) protectAdmin(h http.Handler) http.Handler {
	if s.authn == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			h.ServeHTTP(w, r)
			return
		}
		id, err := s.authn.IdentifyHTTP(r)
		if err == nil {
			err = s.authn.Check(id, auth.Reader, auth.AnyNamespace)
		}
		if err != nil {
			code := http.StatusUnauthorized
			var d *auth.DeniedError
			if errors.As(err, &d) && !d.Anonymous {
				code = http.StatusForbidden
			} else {
				w.Header().Set("WWW-Authenticate", `Bearer realm="orbit-admin"`)
			}
			s.log.Debug("admin request refused", "path", r.URL.Path, "identity", id.String(), "peer", r.RemoteAddr, "status", code)
			http.Error(w, "admin "+r.URL.Path+": "+err.Error(), code)
			return
		}
		h.ServeHTTP(w, r.WithContext(auth.NewContext(r.Context(), id)))
	})
}

// warnExposure logs, loudly, each listener reachable beyond loopback while
// auth is off, and bearer tokens accepted over plaintext beyond loopback.
func (s *Server) warnExposure() {
	if s.authn != nil {
		s.log.Info("authentication on", "tokens", s.authn.TokenCount(), "grants", s.authn.Policy().Len(), "tls", s.tls != nil)
	}
	for _, l := range []struct{ name, addr string }{{"grpc", s.Addr()}, {"admin", s.AdminAddr()}} {
		if l.addr == "" || isLoopback(l.addr) {
			continue
		}
		switch {
		case s.authn == nil:
			s.log.Warn("AUTHENTICATION IS OFF on a listener reachable beyond loopback: anyone who reaches it can join nodes, "+
				"place, list and abandon addressables; set [server.auth] mode = \"on\" (docs/security.md)",
				slog.String("listener", l.name), slog.String("address", l.addr))
		case s.tls == nil:
			s.log.Warn("bearer tokens are accepted over plaintext on a listener reachable beyond loopback: "+
				"serve TLS (--tls-cert, --tls-key) so tokens cannot be read on the network",
				slog.String("listener", l.name), slog.String("address", l.addr))
		}
	}
}

// isLoopback reports whether the listen address addr (host:port) only
// accepts loopback connections; an unspecified host (":50051", "0.0.0.0",
// "::") is every interface.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
