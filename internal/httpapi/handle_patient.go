package httpapi

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/mux"

	"github.com/patientlink/patientlink/internal/link"
	"github.com/patientlink/patientlink/internal/workflow"
)

// patientMapping is a mapping as every mapping route answers it.
type patientMapping struct {
	PatientID         uuid.UUID  `json:"patient-id"`
	InternalPatientID string     `json:"internal-patient-id"`
	Status            string     `json:"status"`
	LinkedAt          time.Time  `json:"linked-at"`
	WorkflowID        uuid.UUID  `json:"workflow-id"`
	DelinkedAt        *time.Time `json:"delinked-at,omitempty"`
	DelinkWorkflowID  *uuid.UUID `json:"delink-workflow-id,omitempty"`
	UpdatedAt         time.Time  `json:"updated-at"`
}

func mappingView(m link.Mapping) patientMapping {
	out := patientMapping{
		PatientID: m.CustomerPatientID, InternalPatientID: m.InternalPatientID, Status: m.Status,
		LinkedAt: m.LinkedAt.UTC(), WorkflowID: m.WorkflowID, UpdatedAt: m.UpdatedAt.UTC(),
	}
	if m.Status == link.MappingDeLinked {
		at := m.DelinkedAt.UTC()
		out.DelinkedAt, out.DelinkWorkflowID = &at, &m.DelinkWorkflowID
	}
	return out
}

func mappingViews(ms []link.Mapping) []patientMapping {
	out := make([]patientMapping, len(ms))
	for i, m := range ms {
		out[i] = mappingView(m)
	}
	return out
}

// handlePatientGet is GET /patient/{patientID}: the patient's current
// mapping (the LINKED one, else the latest, DE-LINKED). Never linked, or
// another customer's patient: 404.
func handlePatientGet(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		patientID, err := uuid.Parse(mux.Vars(r)["patientID"])
		if err != nil {
			writeProblem(w, r, errNotFound)
			return
		}
		m, err := d.Service.Mapping(r.Context(), customerFrom(r.Context()).ID, patientID)
		if errors.Is(err, link.ErrNotFound) {
			writeProblem(w, r, errNotFound)
			return
		}
		if err != nil {
			serverError(d.Logger, w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, mappingView(m))
	})
}

// errQuery is a 400 for a bad query parameter.
func errQuery(detail string) *Problem {
	return problem(http.StatusBadRequest, "query-invalid", "Invalid query", detail)
}

// handlePatientsList is GET /patients?internal-patient-id=…[&include=history]:
// the reverse lookup (PIXm's cross-reference query from our id to yours).
func handlePatientsList(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		internalID := q.Get("internal-patient-id")
		if internalID == "" || len(internalID) > 200 {
			writeProblem(w, r, errQuery("internal-patient-id is required (1 to 200 characters)"))
			return
		}
		include := q.Get("include")
		if include != "" && include != "history" {
			writeProblem(w, r, errQuery("include must be history or absent"))
			return
		}
		ms, err := d.Service.PatientsByInternal(r.Context(), customerFrom(r.Context()).ID, internalID, include == "history")
		if err != nil {
			serverError(d.Logger, w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"patients": mappingViews(ms)})
	})
}

type mappingsPage struct {
	Mappings   []patientMapping `json:"mappings"`
	NextCursor string           `json:"next-cursor"`
}

// handleMappingsList is GET /mappings?status=…&updated-since=…&cursor=…&limit=…:
// the customer's mappings by update time then id, keyset-paged.
func handleMappingsList(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		mq := workflow.MappingQuery{Status: q.Get("status"), Cursor: q.Get("cursor")}
		if mq.Status != "" && mq.Status != link.MappingLinked && mq.Status != link.MappingDeLinked {
			writeProblem(w, r, errQuery("status must be LINKED or DE-LINKED"))
			return
		}
		if raw := q.Get("updated-since"); raw != "" {
			t, err := time.Parse(time.RFC3339Nano, raw)
			if err != nil {
				writeProblem(w, r, errQuery("updated-since must be an RFC 3339 timestamp"))
				return
			}
			mq.UpdatedSince = t
		}
		limit, p := pageLimit(q, workflow.MappingsDefaultLimit, workflow.MappingsMaxLimit)
		if p != nil {
			writeProblem(w, r, p)
			return
		}
		mq.Limit = limit
		page, err := d.Service.Mappings(r.Context(), customerFrom(r.Context()).ID, mq)
		if pageFailed(d, w, r, err) {
			return
		}
		if len(page.Mappings) == limit {
			next := url.Values{}
			for k, v := range q {
				next[k] = v
			}
			next.Set("cursor", page.NextCursor)
			w.Header().Set("Link", "<"+r.URL.Path+"?"+next.Encode()+`>; rel="next"`)
		}
		writeJSON(w, http.StatusOK, mappingsPage{Mappings: mappingViews(page.Mappings), NextCursor: page.NextCursor})
	})
}

// pageLimit reads limit: def when absent, 1 to max otherwise.
func pageLimit(q url.Values, def, maxLimit int) (int, *Problem) {
	raw := q.Get("limit")
	if raw == "" {
		return def, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 || n > maxLimit {
		return 0, problem(http.StatusBadRequest, "limit-invalid", "Invalid limit", "limit must be a whole number from 1 to "+strconv.Itoa(maxLimit))
	}
	return n, nil
}

type historyEntry struct {
	At                time.Time        `json:"at"`
	Kind              link.HistoryKind `json:"kind"`
	WorkflowID        uuid.UUID        `json:"workflow-id"`
	RequestType       link.RequestType `json:"request-type"`
	From              *string          `json:"from"`
	To                string           `json:"to"`
	Outcome           *string          `json:"outcome"`
	Rule              *string          `json:"rule"`
	Reason            string           `json:"reason,omitempty"`
	InternalPatientID string           `json:"internal-patient-id,omitempty"`
}

// handlePatientHistory is GET /patient/{patientID}/history: every workflow
// transition and mapping change of the patient, oldest first. A patient
// with none (never asked for, or another customer's) is a 404.
func handlePatientHistory(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		patientID, err := uuid.Parse(mux.Vars(r)["patientID"])
		if err != nil {
			writeProblem(w, r, errNotFound)
			return
		}
		entries, err := d.Service.PatientHistory(r.Context(), customerFrom(r.Context()).ID, patientID)
		if err != nil {
			serverError(d.Logger, w, r, err)
			return
		}
		if len(entries) == 0 {
			writeProblem(w, r, errNotFound)
			return
		}
		out := make([]historyEntry, len(entries))
		for i, e := range entries {
			h := historyEntry{
				At: e.At.UTC(), Kind: e.Kind, WorkflowID: e.WorkflowID, RequestType: e.RequestType,
				To: e.To, Reason: e.Reason, InternalPatientID: e.InternalPatientID,
			}
			if e.From != "" {
				h.From = &e.From
			}
			if e.Kind == link.HistoryWorkflow && link.State(e.To).IsOutcome() {
				h.Outcome = &e.To
			}
			if e.Rule != "" {
				rule := string(e.Rule)
				h.Rule = &rule
			}
			out[i] = h
		}
		writeJSON(w, http.StatusOK, map[string]any{"history": out})
	})
}
