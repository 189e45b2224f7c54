package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/patientlink/patientlink/internal/link"
	"github.com/patientlink/patientlink/internal/postgres/internal/dbsqlc"
)

// Transition is one move of a workflow through the state machine.
type Transition struct {
	To       link.State
	Outcome  link.State // set when To records an outcome
	Reason   string     // why (required for FAILED)
	SearchID string     // the async search now awaited (REQUESTED)
	Attempt  int        // the processing attempt, for the history event
	Retry    bool       // an operator's retry: count a new workflow attempt
	Actor    string     // who, when a person made the move
}

// TransitionTx moves workflow wf to t.To inside tx, only from a state the
// state machine allows, and appends the history event in the same
// statement. A refused move is a *link.TransitionError, never an overwrite.
func (s *Store) TransitionTx(ctx context.Context, tx pgx.Tx, wf link.Workflow, t Transition) (link.Workflow, error) {
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
		Actor:            nullString(t.Actor),
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
		SearchID: row.SearchID, ReconcileCount: row.ReconcileCount,
	}), nil
}

// Transition is TransitionTx in a transaction of its own.
func (s *Store) Transition(ctx context.Context, wf link.Workflow, t Transition) (link.Workflow, error) {
	var out link.Workflow
	err := s.WithTx(ctx, func(tx pgx.Tx) error {
		var err error
		out, err = s.TransitionTx(ctx, tx, wf, t)
		return err
	})
	return out, err
}

// Started is a workflow as a link.process job found it, with its sealed
// payload (empty KeyID when it has none).
type Started struct {
	Workflow link.Workflow
	Started  bool // moved to IN_PROGRESS now; false: it was in no state to
	KeyID    string
	Sealed   []byte
}

// StartWorkflowTx moves a workflow to IN_PROGRESS (for processing attempt
// attempt) when the state machine allows it, with its history event, and
// reads it and its payload, in one statement in tx. link.ErrNotFound when
// there is no such workflow.
func (s *Store) StartWorkflowTx(ctx context.Context, tx pgx.Tx, id uuid.UUID, attempt int) (Started, error) {
	row, err := s.q.WorkflowStart(ctx, tx, dbsqlc.WorkflowStartParams{ID: id, EventAttempt: int32(max(attempt, 1))})
	if err != nil {
		return Started{}, interpretError(err)
	}
	wf := workflowFromRow(dbsqlc.Workflow{
		ID: row.ID, CustomerID: row.CustomerID, PatientID: row.PatientID, RequestType: row.RequestType,
		Status: row.Status, Outcome: row.Outcome, Reason: row.Reason, WebhookURL: row.WebhookURL,
		Attempt: row.Attempt, CreatedAt: row.CreatedAt, UpdatedAt: row.UpdatedAt,
		SearchID: row.SearchID, ReconcileCount: row.ReconcileCount,
	})
	out := Started{Workflow: wf, Started: row.Started, Sealed: row.PayloadSealed}
	if row.PayloadKeyID != nil {
		out.KeyID = *row.PayloadKeyID
	}
	if row.Started {
		out.Workflow.Reason = ""
		s.metrics.Transition(row.FromStatus, row.Status)
	}
	return out, nil
}

// LockWorkflowTx locks a workflow's row until tx ends and reads it under
// that lock: whoever records an outcome holds it, so a racing duplicate
// waits and then sees that it has nothing left to do.
func (s *Store) LockWorkflowTx(ctx context.Context, tx pgx.Tx, id uuid.UUID) (link.Workflow, error) {
	row, err := s.q.WorkflowLock(ctx, tx, id)
	if err != nil {
		return link.Workflow{}, interpretError(err)
	}
	return workflowFromRow(row), nil
}

// Workflow loads a workflow by id.
func (s *Store) Workflow(ctx context.Context, id uuid.UUID) (link.Workflow, error) {
	return s.workflow(ctx, s.pool, id)
}

// WorkflowTx is Workflow read in tx: a read inside a transaction never
// waits for a second connection of the pool.
func (s *Store) WorkflowTx(ctx context.Context, tx pgx.Tx, id uuid.UUID) (link.Workflow, error) {
	return s.workflow(ctx, tx, id)
}

func (s *Store) workflow(ctx context.Context, db dbsqlc.DBTX, id uuid.UUID) (link.Workflow, error) {
	row, err := s.q.WorkflowGetByID(ctx, db, id)
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

// WorkflowForStatus loads a workflow owned by customerID with the delivery
// of its latest event, and whether that customer is active, in one indexed
// read: the status route's whole cost.
// Another customer's workflow is link.ErrNotFound, like a missing one.
func (s *Store) WorkflowForStatus(ctx context.Context, customerID, id uuid.UUID) (wf link.Workflow, customerActive bool, err error) {
	row, err := s.q.WorkflowGetWithCustomerStatus(ctx, s.pool, dbsqlc.WorkflowGetWithCustomerStatusParams{ID: id, CustomerID: customerID})
	if err != nil {
		return link.Workflow{}, false, interpretError(err)
	}
	wf = workflowFromRow(row.Workflow)
	wf.Notification = link.Notification{EventID: row.EventID, Status: row.DeliveryStatus, Attempts: int(row.EventAttempts)}
	if row.EventLastAttemptAt != nil {
		wf.Notification.LastAttemptAt = *row.EventLastAttemptAt
	}
	if row.EventLastError != nil {
		wf.Notification.LastError = *row.EventLastError
	}
	wf.Rule = link.Rule(row.DecisionRule)
	if row.DecisionConflictPatientID != nil {
		wf.ConflictPatientID = *row.DecisionConflictPatientID
	}
	wf.Review.Status = row.ReviewStatus
	if row.ReviewDecision != nil {
		wf.Review.Decision = *row.ReviewDecision
	}
	if row.ReviewClosedAt != nil {
		wf.Review.ClosedAt = *row.ReviewClosedAt
	}
	return wf, row.CustomerStatus == "active", nil
}

// StuckWorkflowsTx lists, and locks until tx ends, up to max pending
// workflows without progress for olderThan and without a live job. Rows
// another transaction holds are skipped.
func (s *Store) StuckWorkflowsTx(ctx context.Context, tx pgx.Tx, olderThan time.Duration, max int) ([]link.Workflow, error) {
	rows, err := s.q.WorkflowListStuck(ctx, tx, dbsqlc.WorkflowListStuckParams{OlderThanSeconds: olderThan.Seconds(), MaxRows: int32(max)})
	if err != nil {
		return nil, fmt.Errorf("error listing stuck workflows: %w", err)
	}
	out := make([]link.Workflow, len(rows))
	for i, r := range rows {
		out[i] = workflowFromRow(r)
	}
	return out, nil
}

// MarkReconciledTx counts a reconcile attempt for wf, with its history
// event, and returns the new count.
func (s *Store) MarkReconciledTx(ctx context.Context, tx pgx.Tx, wf link.Workflow) (int, error) {
	n, err := s.q.WorkflowReconcileMark(ctx, tx, wf.ID)
	if err != nil {
		return 0, fmt.Errorf("error marking reconcile attempt: %w", err)
	}
	return int(n), nil
}

// ResetReconciledTx clears wf's reconcile count (an operator's retry).
func (s *Store) ResetReconciledTx(ctx context.Context, tx pgx.Tx, wf link.Workflow) error {
	return s.q.WorkflowReconcileReset(ctx, tx, wf.ID)
}

func workflowFromRow(r dbsqlc.Workflow) link.Workflow {
	w := link.Workflow{
		ID: r.ID, CustomerID: r.CustomerID, PatientID: r.PatientID,
		RequestType: link.RequestType(r.RequestType), Status: link.State(r.Status),
		Attempt: int(r.Attempt), CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
	}
	if r.Outcome != nil {
		w.Outcome = link.State(*r.Outcome)
	}
	if r.Reason != nil {
		w.Reason = *r.Reason
	}
	if r.WebhookURL != nil {
		w.WebhookURL = *r.WebhookURL
	}
	w.Reconciled = int(r.ReconcileCount)
	return w
}
