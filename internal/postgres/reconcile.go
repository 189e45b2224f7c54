package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/patientlink/patientlink/internal/dbsqlc"
	"github.com/patientlink/patientlink/internal/link"
)

// StuckWorkflows lists, and locks until tx ends, up to max pending
// workflows without progress for olderThan and without a live job. Rows
// another transaction holds are skipped.
func (s *Store) StuckWorkflows(ctx context.Context, tx pgx.Tx, olderThan time.Duration, max int) ([]link.Workflow, error) {
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

// MarkReconciled counts a reconcile attempt for wf, with its history event,
// and returns the new count.
func (s *Store) MarkReconciled(ctx context.Context, tx pgx.Tx, wf link.Workflow) (int, error) {
	n, err := s.q.WorkflowReconcileMark(ctx, tx, wf.ID)
	if err != nil {
		return 0, fmt.Errorf("error marking reconcile attempt: %w", err)
	}
	return int(n), nil
}

// ResetReconciled clears wf's reconcile count (an operator's retry).
func (s *Store) ResetReconciled(ctx context.Context, tx pgx.Tx, wf link.Workflow) error {
	return s.q.WorkflowReconcileReset(ctx, tx, wf.ID)
}

// LiveJobIDs are the ids of wf's jobs that may still run.
func (s *Store) LiveJobIDs(ctx context.Context, tx pgx.Tx, workflowID uuid.UUID) ([]int64, error) {
	return s.q.RiverJobIDsLiveForWorkflow(ctx, tx, workflowID.String())
}

// PurgeIdempotencyKeys deletes one batch of expired keys.
func (s *Store) PurgeIdempotencyKeys(ctx context.Context, batch int) (int64, error) {
	return s.q.IdempotencyKeyPurge(ctx, s.pool, int32(batch))
}

// PurgePayloads deletes one batch of sealed payloads of workflows that
// ended more than olderThan ago.
func (s *Store) PurgePayloads(ctx context.Context, olderThan time.Duration, batch int) (int64, error) {
	return s.q.RequestPayloadPurge(ctx, s.pool, dbsqlc.RequestPayloadPurgeParams{OlderThanSeconds: olderThan.Seconds(), BatchSize: int32(batch)})
}

// StuckReport is a snapshot of pending work.
type StuckReport struct {
	ID           int64
	CreatedAt    time.Time
	PendingTotal int
	ByStateAge   map[string]map[string]int // state → age bucket → count
	Oldest       []StuckWorkflow
}

// StuckWorkflow names a pending workflow by id, state and age.
type StuckWorkflow struct {
	WorkflowID string `json:"workflow_id"`
	Status     string `json:"status"`
	AgeSeconds int64  `json:"age_seconds"`
}

// CreateStuckReport computes and stores a report naming the oldest count
// pending workflows.
func (s *Store) CreateStuckReport(ctx context.Context, oldest int) (StuckReport, error) {
	row, err := s.q.ReconciliationReportCreate(ctx, s.pool, int32(oldest))
	if err != nil {
		return StuckReport{}, fmt.Errorf("error writing reconciliation report: %w", err)
	}
	r := StuckReport{ID: row.ID, CreatedAt: row.CreatedAt, PendingTotal: int(row.PendingTotal)}
	if err := json.Unmarshal(row.ByStateAge, &r.ByStateAge); err != nil {
		return r, err
	}
	return r, json.Unmarshal(row.Oldest, &r.Oldest)
}
