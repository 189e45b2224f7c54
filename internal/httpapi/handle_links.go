package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/mux"

	"github.com/patientlink/patientlink/internal/link"
	"github.com/patientlink/patientlink/internal/workflow"
)

var errTooManyItems = problem(http.StatusRequestEntityTooLarge, "too-many-items", "Too many items",
	fmt.Sprintf("a bulk request carries at most %d patients; split it", link.MaxBatchItems))

// handleLinksCreate is POST /links: up to link.MaxBatchItems link requests
// under one Idempotency-Key, acknowledged in one transaction. Each item is
// judged on its own: the answer lists, in request order, a workflow id or
// the item's problem.
func handleLinksCreate(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, body, p := readIntake(w, r, d.Config.MaxBulkBodyBytes)
		if p != nil {
			writeProblem(w, r, p)
			return
		}
		raws, err := link.ParseBatch(body)
		if errors.Is(err, link.ErrTooManyItems) {
			writeProblem(w, r, errTooManyItems)
			return
		}
		if err != nil {
			writeAcknowledgement(d, w, r, workflow.Receipt{}, err)
			return
		}
		items := make([]workflow.BatchItem, len(raws))
		for i, raw := range raws {
			items[i].Raw = raw
			items[i].Request, items[i].Err = parseLinkRequest(d, r, raw)
		}
		receipt, err := d.Service.AcknowledgeBatch(r.Context(), customerFrom(r.Context()), items, key, renderBatch)
		if err != nil {
			writeAcknowledgement(d, w, r, receipt, err)
			return
		}
		var named struct {
			BatchID uuid.UUID `json:"batch-id"`
		}
		if json.Unmarshal(receipt.Body, &named) == nil && named.BatchID != uuid.Nil {
			w.Header().Set("Location", "/batches/"+named.BatchID.String())
		}
		writeAcknowledgement(d, w, r, receipt, nil)
	})
}

type batchAccepted struct {
	BatchID  uuid.UUID   `json:"batch-id"`
	Accepted int         `json:"accepted"`
	Rejected int         `json:"rejected"`
	Items    []batchItem `json:"items"`
}

type batchItem struct {
	PatientID  string     `json:"patient-id,omitempty"`
	WorkflowID *uuid.UUID `json:"workflow-id,omitempty"`
	Error      *Problem   `json:"error,omitempty"`
}

// renderBatch is the stored answer to POST /links. An item's problem has
// the shape of a whole request's, its pointers taken from the top of the
// bulk body (/patients/3/patient/dob).
func renderBatch(batchID uuid.UUID, results []workflow.BatchResult) ([]byte, error) {
	out := batchAccepted{BatchID: batchID, Items: make([]batchItem, len(results))}
	for i, res := range results {
		item := batchItem{PatientID: res.PatientID}
		if res.Err == nil {
			id := res.WorkflowID
			item.WorkflowID = &id
			out.Accepted++
		} else {
			item.Error = itemProblem(i, res.Err)
			out.Rejected++
		}
		out.Items[i] = item
	}
	return json.Marshal(out)
}

func itemProblem(i int, err error) *Problem {
	p := acknowledgementProblem(err)
	if p == nil {
		return problem(http.StatusInternalServerError, "internal", "Internal error", "this item could not be judged")
	}
	cp := *p
	if len(cp.Errors) > 0 {
		prefix := fmt.Sprintf("/patients/%d", i)
		cp.Errors = make([]link.FieldError, len(p.Errors))
		for j, f := range p.Errors {
			cp.Errors[j] = link.FieldError{Pointer: prefix + f.Pointer, Detail: f.Detail}
		}
	}
	return &cp
}

type batchView struct {
	BatchID            uuid.UUID          `json:"batch-id"`
	CreatedAt          time.Time          `json:"created-at"`
	Items              int                `json:"items"`
	Accepted           int                `json:"accepted"`
	Done               bool               `json:"done"`
	ByStatus           map[link.State]int `json:"by-status"`
	ByOutcome          map[link.State]int `json:"by-outcome"`
	PendingWorkflowIDs []uuid.UUID        `json:"pending-workflow-ids"`
}

// handleBatchGet is GET /batches/{batchID}: the batch's workflows counted
// by status and outcome, and those still pending. Another customer's
// batch is a 404, like a missing one.
func handleBatchGet(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := uuid.Parse(mux.Vars(r)["batchID"])
		if err != nil {
			writeProblem(w, r, errNotFound)
			return
		}
		b, err := d.Service.Batch(r.Context(), customerFrom(r.Context()).ID, id)
		switch {
		case errors.Is(err, link.ErrNotFound):
			writeProblem(w, r, errNotFound)
			return
		case err != nil:
			serverError(d.Logger, w, r, err)
			return
		}
		v := batchView{
			BatchID: b.ID, CreatedAt: b.CreatedAt.UTC(), Items: b.Items, Accepted: b.Accepted(),
			Done: len(b.Pending) == 0, ByStatus: b.ByStatus, ByOutcome: b.ByOutcome,
			PendingWorkflowIDs: b.Pending,
		}
		if v.PendingWorkflowIDs == nil {
			v.PendingWorkflowIDs = []uuid.UUID{}
		}
		if !v.Done && d.Config.StatusRetryAfter > 0 {
			w.Header().Set("Retry-After", fmt.Sprint(d.Config.StatusRetryAfter))
		}
		w.Header().Set("Cache-Control", "no-cache")
		writeJSON(w, http.StatusOK, v)
	})
}
