package server

import "net/http"

// mountPprof adds /debug/pprof/ to the admin mux when enabled (WithPprof).
func (s *Server) mountPprof(mux *http.ServeMux) {}
