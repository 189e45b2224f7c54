package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
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

// handleReadyz answers 200 when the database answers and its schema is at
// least the version this binary expects, else 503: a load balancer sends no
// traffic to a process that could only fail. A newer schema is fine —
// migrations are additive, and a rolling deploy migrates before the new
// binaries start, so the old ones must stay ready meanwhile.
func handleReadyz(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		version, dirty, err := d.Service.SchemaVersion(ctx)
		var detail string
		switch {
		case err != nil:
			detail = "the database is not reachable"
		case dirty:
			detail = fmt.Sprintf("schema version %d is dirty: a migration failed half-way", version)
		case uint(version) < d.SchemaVersion:
			detail = fmt.Sprintf("schema version %d, this binary needs %d: run patientlink migrate up", version, d.SchemaVersion)
		}
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
