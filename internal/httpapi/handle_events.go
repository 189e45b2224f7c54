package httpapi

import (
	"errors"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/patientlink/patientlink/internal/workflow"
)

type eventsPage struct {
	Events     []any  `json:"events"`
	NextCursor string `json:"next-cursor"`
}

var errBadCursor = problem(http.StatusBadRequest, "cursor-invalid", "Invalid cursor", "cursor must be a next-cursor this API returned")

// pageFailed answers a paged read's error (a cursor not ours is a 400);
// false when there was none.
func pageFailed(d Deps, w http.ResponseWriter, r *http.Request, err error) bool {
	switch {
	case errors.Is(err, workflow.ErrBadCursor):
		writeProblem(w, r, errBadCursor)
	case err != nil:
		serverError(d.Logger, w, r, err)
	default:
		return false
	}
	return true
}

// handleEventsList is GET /events?cursor=…&limit=…: the customer's events,
// oldest first, with the bodies the webhooks send (Stripe's /v1/events).
func handleEventsList(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		limit, p := pageLimit(q, workflow.FeedDefaultLimit, workflow.FeedMaxLimit)
		if p != nil {
			writeProblem(w, r, p)
			return
		}
		page, err := d.Service.Feed(r.Context(), customerFrom(r.Context()).ID, q.Get("cursor"), limit)
		if pageFailed(d, w, r, err) {
			return
		}
		out := eventsPage{Events: make([]any, len(page.Events)), NextCursor: page.NextCursor}
		for i, body := range page.Events {
			out.Events[i] = body
		}
		writeJSON(w, http.StatusOK, out)
	})
}

// handleEventRedeliver is POST /events/{eventID}/redeliver: the customer
// asks for one of its events again (same id, same body).
func handleEventRedeliver(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := customerFrom(r.Context())
		ev, err := d.Service.Redeliver(r.Context(), mux.Vars(r)["eventID"], c.ID, "customer:"+c.ID.String(), "")
		writeRedelivery(d, w, r, ev, err)
	})
}
