package indexsim

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
)

func (s *Server) handleFaultsGet() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.Faults())
	})
}

// handleFaultsSet applies a partial update: fields left out keep their value.
func (s *Server) handleFaultsSet() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
		if err != nil {
			writeError(w, http.StatusBadRequest, "error reading request body")
			return
		}
		s.faultsMu.Lock() // hold it so concurrent partial updates do not lose each other
		faults := s.faults
		if err := json.Unmarshal(data, &faults); err != nil {
			s.faultsMu.Unlock()
			writeError(w, http.StatusBadRequest, fmt.Sprintf("error decoding faults: %v", err))
			return
		}
		if err := faults.validate(); err != nil {
			s.faultsMu.Unlock()
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		s.faults = faults
		s.faultsMu.Unlock()
		s.logFaults(faults)
		writeJSON(w, http.StatusOK, faults)
	})
}

func (s *Server) handleStats() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.Stats())
	})
}

func (s *Server) handleHealth() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
}
