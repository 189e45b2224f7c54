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

// actorHeader names the person behind an operator request; it goes into
// the append-only history.
const actorHeader = "Actor"

var errActorMissing = problem(http.StatusBadRequest, "actor-missing", "Actor missing", "operator requests must name who makes them in the Actor header")

// actorFrom is the operator behind r, as recorded in the history
// ("operator:NAME"); nil problem means it was given.
func actorFrom(r *http.Request) (string, *Problem) {
	actor := strings.TrimSpace(r.Header.Get(actorHeader))
	if actor == "" || len(actor) > 200 {
		return "", errActorMissing
	}
	return "operator:" + actor, nil
}

// handleAdminRedeliver is POST /admin/workflows/{id}/redeliver: send the
// workflow's latest event again, same id and body (after a failed
// delivery, say).
func handleAdminRedeliver(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := uuid.Parse(mux.Vars(r)["workflowID"])
		if err != nil {
			writeProblem(w, r, errNotFound)
			return
		}
		actor, p := actorFrom(r)
		if p != nil {
			writeProblem(w, r, p)
			return
		}
		ev, err := d.Service.RedeliverWorkflow(r.Context(), id, actor, r.URL.Query().Get("reason"))
		writeRedelivery(d, w, r, ev, err)
	})
}

// writeRedelivery answers a redelivery request.
func writeRedelivery(d Deps, w http.ResponseWriter, r *http.Request, ev link.Event, err error) {
	switch {
	case errors.Is(err, link.ErrNotFound):
		writeProblem(w, r, errNotFound)
	case errors.Is(err, workflow.ErrNothingToRedeliver):
		writeProblem(w, r, problem(http.StatusConflict, "nothing-to-redeliver", "Nothing to redeliver", "the workflow has no event yet"))
	case errors.Is(err, workflow.ErrNoWebhook):
		writeProblem(w, r, problem(http.StatusConflict, "no-webhook", "No webhook URL", "there is no webhook URL to deliver to; the event is in GET /events"))
	case err != nil:
		serverError(d.Logger, w, r, err)
	default:
		writeJSON(w, http.StatusAccepted, map[string]any{"event-id": ev.ID, "workflow-id": ev.WorkflowID, "delivery": ev.Delivery.Status})
	}
}
