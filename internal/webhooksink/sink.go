// Package webhooksink is a development webhook receiver: it verifies
// signatures the way a customer should, prints one line per request and
// records what it accepted, so demos and tests can watch deliveries.
package webhooksink

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/patientlink/patientlink/internal/webhooksig"
)

const (
	// Our events are small; a larger body is a bug or an attack.
	maxBody  = 1 << 20
	maxIDLen = 128
)

type Config struct {
	Secrets []string // whsec_ secrets; a request passes when any of them matches (rotation)
	// FailFirst answers 500 to the first FailFirst verified attempts of each
	// webhook-id, to show retries.
	FailFirst int
	// Status answers every verified request (after FailFirst); default 204.
	// A non-2xx status means nothing is ever accepted.
	Status int
	Out    io.Writer        // one line per request; nil discards
	Now    func() time.Time // default time.Now
	// Observe, when set, is told of every verified delivery answered 2xx —
	// the first of an id and each repeat — with the body's raw bytes. It
	// is called with the sink's lock held: keep it short.
	Observe func(id string, body []byte, at time.Time)
}

// Event is an accepted webhook.
type Event struct {
	ID         string
	Type       string
	Body       json.RawMessage // compact
	Attempts   int             // verified attempts up to and including the accepted one
	ReceivedAt time.Time
}

type Stats struct {
	Accepted   int // distinct webhook-ids accepted
	Duplicates int // verified repeats of an accepted id
	Rejected   int // bad signature, timestamp, headers or body
	Failed     int // answered with a failure on purpose: fail-first, status or down
}

// Sink is safe for concurrent use.
type Sink struct {
	cfg Config

	mu       sync.Mutex // guards everything below and serializes writes to cfg.Out
	down     bool
	attempts map[string]int
	accepted map[string]bool
	events   []Event
	stats    Stats
}

func New(cfg Config) *Sink {
	if cfg.Status == 0 {
		cfg.Status = http.StatusNoContent
	}
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Sink{cfg: cfg, attempts: make(map[string]int), accepted: make(map[string]bool)}
}

// SetDown makes the sink answer 503 with Retry-After: 1 to everything, like
// a receiver in an outage.
func (s *Sink) SetDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

// Events returns accepted events, one per webhook-id, in arrival order.
func (s *Sink) Events() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Event, len(s.events))
	copy(out, s.events)
	return out
}

func (s *Sink) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Handler serves POST on any path.
func (s *Sink) Handler() http.Handler { return http.HandlerFunc(s.handle) }

func (s *Sink) handle(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	rawID := r.Header.Get(webhooksig.HeaderID)
	id := printableID(rawID) // for lines only; state is keyed by the real id
	body, readErr := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))

	// Verify outside the lock: it needs only the immutable config.
	var verifyErr error
	if readErr == nil {
		verifyErr = webhooksig.VerifyAny(s.cfg.Secrets, r.Header, body, s.cfg.Now())
	}

	s.mu.Lock()
	defer s.mu.Unlock()

	switch {
	case s.down:
		s.stats.Failed++
		s.printf("FAILED %s %d down\n", id, http.StatusServiceUnavailable)
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	case readErr != nil:
		s.reject(w, id, http.StatusRequestEntityTooLarge, "body too large or unreadable")
		return
	case verifyErr != nil:
		s.reject(w, id, http.StatusUnauthorized, verifyErr.Error())
		return
	case s.accepted[rawID]:
		s.stats.Duplicates++
		s.printf("DUPLICATE %s\n", id)
		s.observe(rawID, body)
		w.WriteHeader(s.cfg.Status)
		return
	}

	s.attempts[rawID]++
	attempt := s.attempts[rawID]
	if attempt <= s.cfg.FailFirst || !is2xx(s.cfg.Status) {
		code := s.cfg.Status
		if attempt <= s.cfg.FailFirst {
			code = http.StatusInternalServerError
		}
		s.stats.Failed++
		s.printf("FAILED %s %d attempt %d\n", id, code, attempt)
		w.WriteHeader(code)
		return
	}

	var compact bytes.Buffer
	if err := json.Compact(&compact, body); err != nil {
		s.reject(w, id, http.StatusBadRequest, "body is not json")
		return
	}
	var envelope struct {
		Type string `json:"type"`
	}
	_ = json.Unmarshal(body, &envelope) // a body without a type is still shown

	s.accepted[rawID] = true
	s.stats.Accepted++
	s.events = append(s.events, Event{
		ID:         rawID,
		Type:       envelope.Type,
		Body:       json.RawMessage(compact.Bytes()),
		Attempts:   attempt,
		ReceivedAt: s.cfg.Now(),
	})
	s.printf("VERIFIED %s %s %s\n", id, printableID(envelope.Type), compact.Bytes())
	s.observe(rawID, body)
	w.WriteHeader(s.cfg.Status)
}

// observe must be called with s.mu held.
func (s *Sink) observe(id string, body []byte) {
	if s.cfg.Observe != nil && is2xx(s.cfg.Status) {
		s.cfg.Observe(id, body, s.cfg.Now())
	}
}

// reject must be called with s.mu held.
func (s *Sink) reject(w http.ResponseWriter, id string, code int, reason string) {
	s.stats.Rejected++
	s.printf("REJECTED %s %s\n", id, reason)
	http.Error(w, reason, code)
}

// printf must be called with s.mu held, which keeps lines whole.
func (s *Sink) printf(format string, args ...any) {
	_, _ = fmt.Fprintf(s.cfg.Out, format, args...)
}

func is2xx(code int) bool { return code >= 200 && code < 300 }

// printableID keeps a header value to one short, visible token: it is
// attacker-controlled and printed on a line others parse.
func printableID(v string) string {
	if v == "" {
		return "-"
	}
	if len(v) > maxIDLen {
		v = v[:maxIDLen]
	}
	return strings.Map(func(r rune) rune {
		if r <= ' ' || r > '~' {
			return '?'
		}
		return r
	}, v)
}
