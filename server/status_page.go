package server

import "net/http"

// mountStatusPage adds the status page's routes to the admin mux.
func (s *Server) mountStatusPage(mux *http.ServeMux) {}
