package httpapi

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/patientlink/patientlink/internal/auth"
	"github.com/patientlink/patientlink/internal/link"
)

type ctxKey int

const (
	ctxRequestID ctxKey = iota
	ctxCustomer
	ctxLogNotes
)

// logNotes collects what a handler learns that the access log line should
// carry, so one line ties the request id to its workflow.
type logNotes struct {
	route      string // the route template, e.g. "/patient/{patientID}"
	workflowID string
	replayed   bool
}

// noteWorkflow names the workflow a request concerns in its log line.
func noteWorkflow(ctx context.Context, id string, replayed bool) {
	if n, ok := ctx.Value(ctxLogNotes).(*logNotes); ok {
		n.workflowID, n.replayed = id, replayed
	}
}

// noteRoute names the matched route's template in the access log line:
// never the raw path, which carries customers' patient ids and whatever a
// client puts there.
func noteRoute(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n, ok := r.Context().Value(ctxLogNotes).(*logNotes); ok {
			if cur := mux.CurrentRoute(r); cur != nil {
				n.route, _ = cur.GetPathTemplate()
			}
		}
		next.ServeHTTP(w, r)
	})
}

// withRequestID takes a sane X-Request-Id from the caller or makes one, and
// echoes it.
func withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if !validRequestID(id) {
			b := make([]byte, 12)
			_, _ = rand.Read(b)
			id = hex.EncodeToString(b)
		}
		w.Header().Set("X-Request-Id", id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxRequestID, id)))
	})
}

func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, c := range id {
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '-' && c != '_' && c != '.' {
			return false
		}
	}
	return true
}

func requestID(ctx context.Context) string {
	id, _ := ctx.Value(ctxRequestID).(string)
	return id
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// withAccessLog logs one line per request: method, route template,
// status, time, and the workflow id when there is one. Never the path, the
// body or the query: those may carry patient data.
func withAccessLog(logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		notes := &logNotes{}
		next.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), ctxLogNotes, notes)))
		level := slog.LevelInfo
		if rec.status >= 500 {
			level = slog.LevelError
		}
		attrs := []slog.Attr{
			slog.String("request_id", requestID(r.Context())),
			slog.String("method", r.Method),
			slog.String("route", cmp.Or(notes.route, "unmatched")),
			slog.Int("status", rec.status),
			slog.Duration("duration", time.Since(start)),
		}
		if notes.workflowID != "" {
			attrs = append(attrs, slog.String("workflow_id", notes.workflowID), slog.Bool("replayed", notes.replayed))
		}
		logger.LogAttrs(r.Context(), level, "http request", attrs...)
	})
}

func withRecover(logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				logger.Error("panic serving request", "request_id", requestID(r.Context()), "panic", v)
				writeProblem(w, r, errInternal)
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// tokenFrom reads the customer token: Customer-Token (the seed's header)
// or Authorization: Bearer.
func tokenFrom(r *http.Request) string {
	if token := r.Header.Get("Customer-Token"); token != "" {
		return token
	}
	if h := r.Header.Get("Authorization"); len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// requireToken checks the token (signature, claims, and that its id is
// issued and not revoked) and rate-limits its customer; the handler checks
// that the customer is active in the same query that reads its data (the
// status route's one read).
func requireToken(logger *slog.Logger, gate *tokenGate, limiter *rateLimiter, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, ok := authenticate(logger, gate, limiter, w, r)
		if !ok {
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxCustomer, link.Customer{ID: claims.CustomerID})))
	})
}

// authenticate checks the request's token and the customer's rate limit,
// answering the request itself when either fails.
func authenticate(logger *slog.Logger, gate *tokenGate, limiter *rateLimiter, w http.ResponseWriter, r *http.Request) (auth.Claims, bool) {
	claims, err := gate.check(r.Context(), tokenFrom(r))
	switch {
	case errors.Is(err, auth.ErrInvalidToken):
		writeProblem(w, r, errUnauthorized)
		return claims, false
	case err != nil:
		serverError(logger, w, r, err)
		return claims, false
	}
	if ok, wait := limiter.allow(claims.CustomerID); !ok {
		writeRateLimited(w, r, wait)
		return claims, false
	}
	return claims, true
}

// requireCustomer authenticates the caller by token, rate-limits it and
// loads an active customer. Every failure is the same 401, so callers
// cannot probe which part failed.
func requireCustomer(logger *slog.Logger, gate *tokenGate, store customers, limiter *rateLimiter) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			claims, ok := authenticate(logger, gate, limiter, w, r)
			if !ok {
				return
			}
			c, err := store.Customer(r.Context(), claims.CustomerID)
			switch {
			case errors.Is(err, link.ErrNotFound):
				writeProblem(w, r, errUnauthorized)
				return
			case err != nil:
				serverError(logger, w, r, err)
				return
			case !c.Active:
				writeProblem(w, r, errUnauthorized)
				return
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxCustomer, c)))
		})
	}
}

func customerFrom(ctx context.Context) link.Customer {
	c, _ := ctx.Value(ctxCustomer).(link.Customer)
	return c
}

// serverError logs an internal error (never patient data: errors here come
// from the database and the network) and answers 500, or 503 when the
// database is unreachable.
func serverError(logger *slog.Logger, w http.ResponseWriter, r *http.Request, err error) {
	logger.Error("request failed", "request_id", requestID(r.Context()), "error", err)
	if isUnavailable(err) {
		p := *errUnavailable
		p.RetryAfter = 1
		writeProblem(w, r, &p)
		return
	}
	writeProblem(w, r, errInternal)
}
