package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// handleHealthz answers while the process is alive.
func handleHealthz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
}

// isUnavailable tells a database that cannot be reached from one that
// answered with an error.
func isUnavailable(err error) bool {
	var netErr net.Error
	var connectErr *pgconn.ConnectError
	return errors.As(err, &connectErr) || errors.As(err, &netErr) || errors.Is(err, context.DeadlineExceeded) || pgconn.SafeToRetry(err)
}

// readyzEvery bounds /readyz's database probes: at most one per interval
// per process, however often it is asked, so it cannot load the database.
const readyzEvery = time.Second

// readiness caches the last probe. Requests arriving while one probes wait
// for its answer rather than starting their own.
type readiness struct {
	d  Deps
	mu sync.Mutex
	at time.Time
	// the last answer
	version int64
	detail  string
}

func (rd *readiness) check(ctx context.Context) (int64, string) {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	if now := rd.d.Now(); rd.at.IsZero() || now.Sub(rd.at) >= readyzEvery || now.Before(rd.at) {
		rd.version, rd.detail = rd.probe(ctx)
		rd.at = rd.d.Now()
	}
	return rd.version, rd.detail
}

func (rd *readiness) probe(ctx context.Context) (int64, string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	version, dirty, err := rd.d.Service.SchemaVersion(ctx)
	switch {
	case err != nil:
		return version, "the database is not reachable"
	case dirty:
		return version, fmt.Sprintf("schema version %d is dirty: a migration failed half-way", version)
	case uint(version) < rd.d.SchemaVersion:
		return version, fmt.Sprintf("schema version %d, this binary needs %d: run patientlink migrate up", version, rd.d.SchemaVersion)
	}
	return version, ""
}

// handleReadyz answers 200 when the database answers and its schema is at
// least the version this binary expects, else 503: a load balancer sends no
// traffic to a process that could only fail. A newer schema is fine —
// migrations are additive, and a rolling deploy migrates before the new
// binaries start, so the old ones must stay ready meanwhile. The answer
// is at most readyzEvery old.
func handleReadyz(d Deps) http.Handler {
	rd := &readiness{d: d}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		version, detail := rd.check(r.Context())
		if detail != "" {
			p := problem(http.StatusServiceUnavailable, "not-ready", "Not ready", detail)
			p.RetryAfter = 1
			writeProblem(w, r, p)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "schema-version": version})
	})
}

// handleOpenAPI serves docs/openapi.yaml.
func handleOpenAPI(spec []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(spec) == 0 {
			writeProblem(w, r, errNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/yaml")
		_, _ = w.Write(spec)
	})
}
