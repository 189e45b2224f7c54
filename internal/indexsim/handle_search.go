package indexsim

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/patientlink/patientlink/internal/index"
)

const maxRequestBytes = 1 << 20

func (s *Server) handleSearch() http.Handler {
	type resultsResponse struct {
		Results []index.Result `json:"results"`
	}
	type acceptedResponse struct {
		SearchID string `json:"search-id"`
	}

	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.searches.Add(1)

		// Read the whole body first: the server notices a client that went
		// away (and cancels r.Context) only once the body is consumed.
		var q index.Query
		if err := decodeQuery(w, r, &q); err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}

		faults := s.Faults()
		if faults.Down {
			s.errorsInjected.Add(1)
			writeError(w, http.StatusServiceUnavailable, "index down (simulated)")
			return
		}
		if faults.Latency > 0 && !s.sleep(r, faults.Latency) {
			// The client is gone or we are closing; nobody needs a real answer.
			writeError(w, http.StatusServiceUnavailable, "search abandoned")
			return
		}
		switch roll := s.roll(); {
		case roll < faults.ErrorRate:
			s.errorsInjected.Add(1)
			writeError(w, http.StatusServiceUnavailable, "injected error (simulated)")
			return
		case roll < faults.ErrorRate+faults.TimeoutRate:
			s.timeoutsInjected.Add(1)
			s.sleep(r, s.cfg.HangFor)
			writeError(w, http.StatusGatewayTimeout, "injected timeout (simulated)")
			return
		}

		results := s.matcher.search(q)
		if !s.cfg.Async {
			writeJSON(w, http.StatusOK, resultsResponse{Results: results})
			return
		}
		searchID := "srch_" + rand.Text()
		if !s.sendCallbackLater(searchID, results) {
			writeError(w, http.StatusServiceUnavailable, "simulator shutting down")
			return
		}
		writeJSON(w, http.StatusAccepted, acceptedResponse{SearchID: searchID})
	})
}

func decodeQuery(w http.ResponseWriter, r *http.Request, q *index.Query) error {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBytes))
	if err != nil {
		return errors.New("error reading request body")
	}
	// Error texts name fields, never values: the body is PHI.
	if err := json.Unmarshal(data, q); err != nil {
		return errors.New("request body is not a valid search")
	}
	if strings.TrimSpace(q.FullName) == "" {
		return errors.New("full_name is required")
	}
	if _, err := time.Parse(time.DateOnly, strings.TrimSpace(q.DOB)); err != nil {
		return errors.New("dob must be YYYY-MM-DD")
	}
	return nil
}

// sleep waits for d, or less if the client goes away or the simulator closes;
// it reports whether the full time passed.
func (s *Server) sleep(r *http.Request, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-r.Context().Done():
		return false
	case <-s.ctx.Done():
		return false
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError answers with a small JSON body; the contract does not rely on it.
func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
