package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/google/uuid"
	"github.com/gorilla/mux"

	"github.com/patientlink/patientlink/internal/link"
	"github.com/patientlink/patientlink/internal/workflow"
)

type reviewsPage struct {
	Reviews    []link.ReviewView `json:"reviews"`
	NextCursor string            `json:"next-cursor"`
}

// handleReviewsList is GET /admin/reviews?status=open&cursor=…&limit=…:
// reviews oldest first, with paging.
func handleReviewsList(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		status := q.Get("status")
		if status == "" {
			status = link.ReviewOpen
		}
		limit, p := pageLimit(q, workflow.FeedDefaultLimit, workflow.FeedMaxLimit)
		if p != nil {
			writeProblem(w, r, p)
			return
		}
		page, err := d.Service.Reviews(r.Context(), status, q.Get("cursor"), limit)
		switch {
		case errors.Is(err, workflow.ErrBadCursor):
			writeProblem(w, r, errBadCursor)
			return
		case errors.Is(err, workflow.ErrReviewStatus):
			writeProblem(w, r, problem(http.StatusBadRequest, "status-invalid", "Invalid status", err.Error()))
			return
		case err != nil:
			serverError(d.Logger, w, r, err)
			return
		}
		out := reviewsPage{Reviews: make([]link.ReviewView, len(page.Reviews)), NextCursor: page.NextCursor}
		for i, rv := range page.Reviews {
			out.Reviews[i] = rv.View()
		}
		writeJSON(w, http.StatusOK, out)
	})
}

// handleReviewGet is GET /admin/reviews/{reviewID}: one review with its
// candidates and their match vectors (no demographics: the reviewer looks
// those up in the index).
func handleReviewGet(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := uuid.Parse(mux.Vars(r)["reviewID"])
		if err != nil {
			writeProblem(w, r, errNotFound)
			return
		}
		rv, err := d.Service.Review(r.Context(), id)
		if errors.Is(err, link.ErrNotFound) {
			writeProblem(w, r, errNotFound)
			return
		}
		if err != nil {
			serverError(d.Logger, w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, rv.View())
	})
}

type resolveRequest struct {
	Decision          string `json:"decision"`
	InternalPatientID string `json:"internal-patient-id"`
	Reason            string `json:"reason"`
}

// handleReviewResolve is POST /admin/reviews/{reviewID}/resolve: a
// person's decision, recorded with the Actor header and a reason.
func handleReviewResolve(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := uuid.Parse(mux.Vars(r)["reviewID"])
		if err != nil {
			writeProblem(w, r, errNotFound)
			return
		}
		actor, p := actorFrom(r)
		if p != nil {
			writeProblem(w, r, p)
			return
		}
		body, p := readBody(w, r, d.Config.MaxBodyBytes)
		if p != nil {
			writeProblem(w, r, p)
			return
		}
		var req resolveRequest
		if err := json.Unmarshal(body, &req); err != nil {
			writeProblem(w, r, errMalformed)
			return
		}
		if strings.TrimSpace(req.Reason) == "" {
			writeProblem(w, r, validationProblem([]link.FieldError{{Pointer: "/reason", Detail: "say why"}}))
			return
		}
		rv, err := d.Service.ResolveReview(r.Context(), id, workflow.ReviewDecision{
			Decision: req.Decision, InternalPatientID: req.InternalPatientID, Actor: actor, Reason: req.Reason,
		})
		var taken *link.TakenError
		var conflict *link.ConflictError
		switch {
		case errors.Is(err, link.ErrNotFound):
			writeProblem(w, r, errNotFound)
		case errors.Is(err, workflow.ErrReviewClosed):
			writeProblem(w, r, problem(http.StatusConflict, "review-closed", "Review closed", err.Error()))
		case errors.Is(err, workflow.ErrBadDecision):
			writeProblem(w, r, validationProblem([]link.FieldError{{Pointer: "/decision", Detail: err.Error()}}))
		case errors.Is(err, workflow.ErrNotACandidate):
			writeProblem(w, r, problem(http.StatusUnprocessableEntity, "not-a-candidate", "Not a candidate", err.Error()))
		case errors.As(err, &taken):
			p := problem(http.StatusConflict, "internal-patient-taken", "Internal patient taken", taken.Error())
			p.PatientID = &taken.PatientID
			writeProblem(w, r, p)
		case errors.As(err, &conflict):
			p := problem(http.StatusConflict, "conflict", "Conflict", conflict.Detail)
			p.WorkflowID = &conflict.WorkflowID
			writeProblem(w, r, p)
		case err != nil:
			serverError(d.Logger, w, r, err)
		default:
			writeJSON(w, http.StatusOK, rv.View())
		}
	})
}
