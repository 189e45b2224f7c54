package indexsim

import "net/http"

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST /search", s.handleSearch())
	mux.Handle("GET /_sim/faults", s.handleFaultsGet())
	mux.Handle("POST /_sim/faults", s.handleFaultsSet())
	mux.Handle("GET /_sim/stats", s.handleStats())
	mux.Handle("GET /healthz", s.handleHealth())
	return mux
}
