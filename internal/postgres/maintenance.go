package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/patientlink/patientlink/internal/link"
	"github.com/patientlink/patientlink/internal/postgres/internal/dbsqlc"
)

// Payload returns a workflow's sealed request data and the id of the key
// that sealed it; link.ErrNotFound once purged.
func (s *Store) Payload(ctx context.Context, workflowID uuid.UUID) (keyID string, sealed []byte, err error) {
	row, err := s.q.RequestPayloadGet(ctx, s.pool, workflowID)
	if err != nil {
		return "", nil, interpretError(err)
	}
	return row.KeyID, row.Sealed, nil
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
	OpenReviews  []StuckReview // the oldest open reviews
}

// StuckReview names an open review by id and age.
type StuckReview struct {
	ReviewID   string `json:"review_id"`
	WorkflowID string `json:"workflow_id"`
	AgeSeconds int64  `json:"age_seconds"`
}

// StuckWorkflow names a pending workflow by id, state and age.
type StuckWorkflow struct {
	WorkflowID string     `json:"workflow_id"`
	Status     link.State `json:"status"`
	AgeSeconds int64      `json:"age_seconds"`
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
	if err := json.Unmarshal(row.Oldest, &r.Oldest); err != nil {
		return r, err
	}
	return r, json.Unmarshal(row.OpenReviews, &r.OpenReviews)
}
