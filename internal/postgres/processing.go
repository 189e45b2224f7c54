package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/patientlink/patientlink/internal/dbsqlc"
	"github.com/patientlink/patientlink/internal/link"
)

// Transition is one move of a workflow through the state machine.
type Transition struct {
	To       link.State
	Outcome  link.State // set when To records an outcome
	Reason   string     // why (required for FAILED)
	SearchID string     // the async search now awaited (REQUESTED)
	Attempt  int        // the processing attempt, for the history event
	Retry    bool       // an operator's retry: count a new workflow attempt
}

// Transition moves workflow wf to t.To inside tx, only from a state the
// state machine allows, and appends the history event in the same
// statement. A refused move is a *link.TransitionError, never an overwrite.
func (s *Store) Transition(ctx context.Context, tx pgx.Tx, wf link.Workflow, t Transition) (link.Workflow, error) {
	from := link.AllowedFrom(wf.RequestType, t.To)
	if from == nil {
		return link.Workflow{}, &link.TransitionError{WorkflowID: wf.ID, From: wf.Status, To: t.To}
	}
	states := make([]string, len(from))
	for i, st := range from {
		states[i] = string(st)
	}
	increment := int32(0)
	if t.Retry {
		increment = 1
	}
	row, err := s.q.WorkflowTransition(ctx, tx, dbsqlc.WorkflowTransitionParams{
		ID:               wf.ID,
		ToStatus:         string(t.To),
		Outcome:          nullString(string(t.Outcome)),
		Reason:           nullString(t.Reason),
		SearchID:         nullString(t.SearchID),
		AttemptIncrement: increment,
		FromStates:       states,
		EventAttempt:     int32(max(t.Attempt, 1)),
	})
	if errors.Is(err, pgx.ErrNoRows) {
		current, _ := s.q.WorkflowStatusGet(ctx, tx, wf.ID)
		return link.Workflow{}, &link.TransitionError{WorkflowID: wf.ID, From: link.State(current), To: t.To}
	}
	if err != nil {
		return link.Workflow{}, fmt.Errorf("error moving workflow to %s: %w", t.To, err)
	}
	s.metrics.Transition(row.FromStatus, row.Status)
	return workflowFromRow(dbsqlc.Workflow{
		ID: row.ID, CustomerID: row.CustomerID, PatientID: row.PatientID, RequestType: row.RequestType,
		Status: row.Status, Outcome: row.Outcome, Reason: row.Reason, WebhookURL: row.WebhookURL,
		Attempt: row.Attempt, CreatedAt: row.CreatedAt, UpdatedAt: row.UpdatedAt, EndedAt: row.EndedAt,
		SearchID: row.SearchID, NotifyStatus: row.NotifyStatus, NotifyAttempts: row.NotifyAttempts,
		NotifyLastAt: row.NotifyLastAt, NotifyLastError: row.NotifyLastError,
	}), nil
}

// TransitionNow is Transition in a transaction of its own.
func (s *Store) TransitionNow(ctx context.Context, wf link.Workflow, t Transition) (link.Workflow, error) {
	var out link.Workflow
	err := s.WithTx(ctx, func(tx pgx.Tx) error {
		var err error
		out, err = s.Transition(ctx, tx, wf, t)
		return err
	})
	return out, err
}

// LockWorkflow locks wf's row until tx ends and returns its current state:
// whoever records an outcome holds the lock, so a racing duplicate waits and
// then sees that it has nothing left to do.
func (s *Store) LockWorkflow(ctx context.Context, tx pgx.Tx, id uuid.UUID) (link.State, error) {
	st, err := s.q.WorkflowLockStatus(ctx, tx, id)
	if err != nil {
		return "", interpretError(err)
	}
	return link.State(st), nil
}

// Workflow loads a workflow by id.
func (s *Store) Workflow(ctx context.Context, id uuid.UUID) (link.Workflow, error) {
	row, err := s.q.WorkflowGetByID(ctx, s.pool, id)
	if err != nil {
		return link.Workflow{}, interpretError(err)
	}
	return workflowFromRow(row), nil
}

// WorkflowBySearchID finds the workflow awaiting an async search.
func (s *Store) WorkflowBySearchID(ctx context.Context, searchID string) (link.Workflow, error) {
	row, err := s.q.WorkflowGetBySearchID(ctx, s.pool, &searchID)
	if err != nil {
		return link.Workflow{}, interpretError(err)
	}
	return workflowFromRow(row), nil
}

// Payload returns a workflow's sealed request data and the id of the key
// that sealed it; link.ErrNotFound once purged.
func (s *Store) Payload(ctx context.Context, workflowID uuid.UUID) (keyID string, sealed []byte, err error) {
	row, err := s.q.RequestPayloadGet(ctx, s.pool, workflowID)
	if err != nil {
		return "", nil, interpretError(err)
	}
	return row.KeyID, row.Sealed, nil
}

// LinkPatient records the LINKED mapping of wf's patient to internalID with
// its history event. linked is false when a LINKED mapping already holds the
// internal patient (or the patient): the outcome is then CONFLICT.
func (s *Store) LinkPatient(ctx context.Context, tx pgx.Tx, wf link.Workflow, m link.Match) (linked bool, err error) {
	_, err = s.q.MappingLink(ctx, tx, dbsqlc.MappingLinkParams{
		CustomerID: wf.CustomerID, CustomerPatientID: wf.PatientID, InternalPatientID: m.ID,
		Score: m.Score, WorkflowID: wf.ID,
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("error inserting mapping: %w", err)
	}
	return true, nil
}

// DelinkPatient marks wf's patient's LINKED mapping DE-LINKED, with its
// history event; found is false when there was none.
func (s *Store) DelinkPatient(ctx context.Context, tx pgx.Tx, wf link.Workflow) (found bool, err error) {
	_, err = s.q.MappingDelink(ctx, tx, dbsqlc.MappingDelinkParams{
		WorkflowID: &wf.ID, CustomerID: wf.CustomerID, CustomerPatientID: wf.PatientID,
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("error de-linking mapping: %w", err)
	}
	return true, nil
}

// Mapping is a patient's current mapping: the LINKED one, else the latest.
func (s *Store) Mapping(ctx context.Context, customerID, patientID uuid.UUID) (link.Mapping, error) {
	row, err := s.q.MappingGetLatest(ctx, s.pool, dbsqlc.MappingGetLatestParams{CustomerID: customerID, CustomerPatientID: patientID})
	if err != nil {
		return link.Mapping{}, interpretError(err)
	}
	return mappingFromRow(row), nil
}

// MappingByWorkflow is the mapping a workflow made.
func (s *Store) MappingByWorkflow(ctx context.Context, workflowID uuid.UUID) (link.Mapping, error) {
	row, err := s.q.MappingGetByWorkflow(ctx, s.pool, workflowID)
	if err != nil {
		return link.Mapping{}, interpretError(err)
	}
	return mappingFromRow(row), nil
}

func mappingFromRow(r dbsqlc.PatientMapping) link.Mapping {
	m := link.Mapping{
		CustomerID: r.CustomerID, CustomerPatientID: r.CustomerPatientID, InternalPatientID: r.InternalPatientID,
		Status: r.Status, Score: r.Score, WorkflowID: r.WorkflowID, LinkedAt: r.LinkedAt,
	}
	if r.DelinkWorkflowID != nil {
		m.DelinkWorkflowID = *r.DelinkWorkflowID
	}
	if r.DelinkedAt != nil {
		m.DelinkedAt = *r.DelinkedAt
	}
	return m
}
