package httpapi

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"

	"github.com/google/uuid"
	"github.com/gorilla/mux"

	"github.com/patientlink/patientlink/internal/link"
	"github.com/patientlink/patientlink/internal/workflow"
)

// requireAdmin guards operator endpoints with the admin token; without a
// configured token they do not exist (404).
func requireAdmin(token string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if token == "" {
			writeProblem(w, r, errNotFound)
			return
		}
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
			writeProblem(w, r, errUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// handleAdminRedeliver is POST /admin/workflows/{id}/redeliver: send the
// workflow's notification again (after webhook_undeliverable, say).
func handleAdminRedeliver(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := uuid.Parse(mux.Vars(r)["workflowID"])
		if err != nil {
			writeProblem(w, r, errNotFound)
			return
		}
		wf, err := d.Service.Redeliver(r.Context(), id)
		switch {
		case errors.Is(err, link.ErrNotFound):
			writeProblem(w, r, errNotFound)
		case errors.Is(err, workflow.ErrNothingToRedeliver):
			writeProblem(w, r, problem(http.StatusConflict, "nothing-to-redeliver", "Nothing to redeliver", err.Error()))
		case err != nil:
			serverError(d.Logger, w, r, err)
		default:
			writeJSON(w, http.StatusAccepted, map[string]any{"workflow-id": wf.ID, "status": wf.Status, "notification": "pending"})
		}
	})
}
