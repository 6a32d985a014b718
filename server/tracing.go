package server

import "google.golang.org/grpc"

// tracingOptions are the gRPC server options that trace calls (none while
// tracing is off).
func (s *Server) tracingOptions() []grpc.ServerOption { return nil }
