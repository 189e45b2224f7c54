package indexsim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/patientlink/patientlink/internal/index"
)

// sendCallbackLater schedules the callback for an async search. It reports
// false once the simulator is closed, when no more work may start.
func (s *Server) sendCallbackLater(searchID string, results []index.Result) bool {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.closed {
		return false
	}
	s.asyncAccepted.Add(1)
	s.wg.Go(func() {
		if err := s.deliverCallback(searchID, results); err != nil {
			s.callbacksFailed.Add(1)
			s.logger.Warn("index simulator callback failed",
				slog.String("search_id", searchID), slog.String("error", err.Error()))
			return
		}
		s.callbacksSent.Add(1)
	})
	return true
}

func (s *Server) deliverCallback(searchID string, results []index.Result) error {
	if !s.wait(s.cfg.CallbackDelay) {
		return s.ctx.Err()
	}
	body, err := json.Marshal(index.CallbackBody{SearchID: searchID, Results: results})
	if err != nil {
		return fmt.Errorf("error encoding callback: %w", err)
	}
	path := index.CallbackPath(searchID)
	target := strings.TrimRight(s.cfg.CallbackURL, "/") + path

	backoff := s.backoff
	for try := 1; ; try++ {
		retry, err := s.postCallback(target, path, body)
		if err == nil {
			return nil
		}
		if !retry || try == callbackTries {
			return fmt.Errorf("error delivering callback after %d tries: %w", try, err)
		}
		if !s.wait(backoff) {
			return s.ctx.Err()
		}
		backoff *= 2
	}
}

// postCallback makes one delivery attempt, holding a semaphore slot only while
// the request is in flight. It reports whether a failure is worth retrying.
func (s *Server) postCallback(target, path string, body []byte) (retry bool, err error) {
	select {
	case s.callbacks <- struct{}{}:
		defer func() { <-s.callbacks }()
	case <-s.ctx.Done():
		return false, s.ctx.Err()
	}

	ctx, cancel := context.WithTimeout(s.ctx, callbackTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return false, fmt.Errorf("error building callback request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	// Signed per attempt, so a late retry still carries a fresh timestamp.
	req.Header.Set(index.SignatureHeader, index.SignCallback(s.cfg.CallbackSecret, path, body, time.Now()))

	resp, err := s.httpClient.Do(req)
	if err != nil {
		return s.ctx.Err() == nil, fmt.Errorf("error posting callback: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		return false, nil
	case code == http.StatusTooManyRequests || code >= 500:
		return true, fmt.Errorf("callback answered %d", code)
	default:
		return false, fmt.Errorf("callback answered %d", code)
	}
}

// wait sleeps for d unless the simulator closes first; it reports whether the
// full time passed.
func (s *Server) wait(d time.Duration) bool {
	if d <= 0 {
		return s.ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-s.ctx.Done():
		return false
	}
}
