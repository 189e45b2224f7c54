package link

import (
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Review statuses.
const (
	ReviewOpen       = "open"
	ReviewResolved   = "resolved"
	ReviewSuperseded = "superseded" // the customer sent a new request for the patient
)

// Review decisions.
const (
	DecideLink    = "link"
	DecideNoMatch = "no-match"
)

// Review is an uncertain outcome (AMBIGUOUS or CONFLICT) waiting for, or
// resolved by, a person.
type Review struct {
	ID                uuid.UUID
	WorkflowID        uuid.UUID
	CustomerID        uuid.UUID
	PatientID         uuid.UUID
	Outcome           State
	Status            string
	Candidates        []Match
	CreatedAt         time.Time
	ClosedAt          time.Time // zero while open
	Decision          string    // DecideLink or DecideNoMatch, once resolved
	InternalPatientID string    // the candidate linked
	Actor             string
	Reason            string
	SupersededBy      uuid.UUID
}

// Candidate finds id among the review's candidates.
func (r Review) Candidate(id string) (Match, bool) {
	for _, c := range r.Candidates {
		if c.ID == id {
			return c, true
		}
	}
	return Match{}, false
}

// ReviewState is where a workflow's review stands, for its status.
type ReviewState struct {
	Status   string // "" when the workflow has no review
	Decision string
	ClosedAt time.Time
}

// TakenError says an internal patient is already linked to another of the
// customer's patients.
type TakenError struct {
	InternalPatientID string
	PatientID         uuid.UUID // the customer's patient that holds it
}

func (e *TakenError) Error() string {
	return fmt.Sprintf("internal patient %s is already linked to patient %s", e.InternalPatientID, e.PatientID)
}

// ReviewView is a review as the admin API and `patientlink review` print
// it: internal ids and scores for operators, never demographics.
type ReviewView struct {
	ID                uuid.UUID  `json:"id"`
	WorkflowID        uuid.UUID  `json:"workflow-id"`
	PatientID         uuid.UUID  `json:"patient-id"`
	Outcome           State      `json:"outcome"`
	Status            string     `json:"status"`
	Candidates        []Match    `json:"candidates"`
	CreatedAt         time.Time  `json:"created-at"`
	ClosedAt          *time.Time `json:"closed-at,omitempty"`
	Decision          string     `json:"decision,omitempty"`
	InternalPatientID string     `json:"internal-patient-id,omitempty"`
	Actor             string     `json:"actor,omitempty"`
	Reason            string     `json:"reason,omitempty"`
	SupersededBy      *uuid.UUID `json:"superseded-by,omitempty"`
}

// View is r as printed.
func (r Review) View() ReviewView {
	v := ReviewView{
		ID: r.ID, WorkflowID: r.WorkflowID, PatientID: r.PatientID, Outcome: r.Outcome, Status: r.Status,
		Candidates: r.Candidates, CreatedAt: r.CreatedAt.UTC(), Decision: r.Decision,
		InternalPatientID: r.InternalPatientID, Actor: r.Actor, Reason: r.Reason,
	}
	if v.Candidates == nil {
		v.Candidates = []Match{}
	}
	if !r.ClosedAt.IsZero() {
		at := r.ClosedAt.UTC()
		v.ClosedAt = &at
	}
	if r.SupersededBy != uuid.Nil {
		v.SupersededBy = &r.SupersededBy
	}
	return v
}
