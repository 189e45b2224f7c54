package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/patientlink/patientlink/internal/link"
	"github.com/patientlink/patientlink/internal/postgres/internal/dbsqlc"
)

// DecisionRecord is one explained decision for the history.
type DecisionRecord struct {
	Workflow          link.Workflow
	Decision          link.Decision
	Outcome           link.State // may differ from Decision.Outcome (CONFLICT)
	Rule              link.Rule
	InternalPatientID string    // linked or taken
	ConflictPatientID uuid.UUID // CONFLICT: who holds it
	ReviewID          uuid.UUID // manual decisions
	Actor, Reason     string
}

// RecordDecisionTx appends a decision with its explanation, inside tx.
func (s *Store) RecordDecisionTx(ctx context.Context, tx pgx.Tx, d DecisionRecord) error {
	candidates, err := json.Marshal(nonNil(d.Decision.Candidates))
	if err != nil {
		return err
	}
	p := dbsqlc.DecisionRecordParams{
		WorkflowID: d.Workflow.ID, CustomerID: d.Workflow.CustomerID, CustomerPatientID: d.Workflow.PatientID,
		Outcome: string(d.Outcome), Rule: string(d.Rule), PolicyVersion: link.PolicyVersion,
		Threshold: d.Decision.Policy.Threshold, Margin: d.Decision.Policy.Margin, MarginSeen: d.Decision.MarginSeen,
		Candidates: candidates, InternalPatientID: nullString(d.InternalPatientID),
		Actor: nullString(d.Actor), Reason: nullString(d.Reason),
	}
	if d.ConflictPatientID != uuid.Nil {
		p.ConflictPatientID = &d.ConflictPatientID
	}
	if d.ReviewID != uuid.Nil {
		p.ReviewID = &d.ReviewID
	}
	if err := s.q.DecisionRecord(ctx, tx, p); err != nil {
		return fmt.Errorf("error recording decision: %w", err)
	}
	return nil
}

// CreateReviewTx opens the review of wf's uncertain outcome, inside tx.
func (s *Store) CreateReviewTx(ctx context.Context, tx pgx.Tx, wf link.Workflow, outcome link.State, candidates []link.Match) error {
	c, err := json.Marshal(nonNil(candidates))
	if err != nil {
		return err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return err
	}
	err = s.q.ReviewCreate(ctx, tx, dbsqlc.ReviewCreateParams{
		ID: id, WorkflowID: wf.ID, CustomerID: wf.CustomerID, PatientID: wf.PatientID, Outcome: string(outcome), Candidates: c,
	})
	if err != nil {
		return fmt.Errorf("error opening review: %w", err)
	}
	return nil
}

// Review loads a review.
func (s *Store) Review(ctx context.Context, id uuid.UUID) (link.Review, error) {
	row, err := s.q.ReviewGetByID(ctx, s.pool, id)
	if err != nil {
		return link.Review{}, interpretError(err)
	}
	return reviewFromRow(row)
}

// LockReviewTx locks a review until tx ends and reads it under the lock.
func (s *Store) LockReviewTx(ctx context.Context, tx pgx.Tx, id uuid.UUID) (link.Review, error) {
	row, err := s.q.ReviewLock(ctx, tx, id)
	if err != nil {
		return link.Review{}, interpretError(err)
	}
	return reviewFromRow(row)
}

// ReviewCursor is a position in a list of reviews.
type ReviewCursor struct {
	CreatedAt time.Time
	ID        uuid.UUID
}

// Reviews lists up to limit reviews of a status after cursor, oldest first.
func (s *Store) Reviews(ctx context.Context, status string, after ReviewCursor, limit int) ([]link.Review, ReviewCursor, error) {
	rows, err := s.q.ReviewList(ctx, s.pool, dbsqlc.ReviewListParams{
		Status: status, AfterCreatedAt: after.CreatedAt, AfterID: after.ID, MaxRows: int32(limit),
	})
	if err != nil {
		return nil, after, fmt.Errorf("error listing reviews: %w", err)
	}
	out := make([]link.Review, len(rows))
	for i, r := range rows {
		if out[i], err = reviewFromRow(r); err != nil {
			return nil, after, err
		}
		after = ReviewCursor{CreatedAt: r.CreatedAt, ID: r.ID}
	}
	return out, after, nil
}

// ResolveReviewTx closes an open review with a person's decision, inside
// tx; link.ErrNotFound when it is not open.
func (s *Store) ResolveReviewTx(ctx context.Context, tx pgx.Tx, r link.Review) (link.Review, error) {
	row, err := s.q.ReviewResolve(ctx, tx, dbsqlc.ReviewResolveParams{
		ID: r.ID, Decision: &r.Decision, InternalPatientID: nullString(r.InternalPatientID), Actor: &r.Actor, Reason: &r.Reason,
	})
	if err != nil {
		return link.Review{}, interpretError(err)
	}
	return reviewFromRow(row)
}

// OpenReviewsByAge counts open reviews by age bucket.
func (s *Store) OpenReviewsByAge(ctx context.Context) (map[string]int, error) {
	rows, err := s.q.ReviewCountOpenByAge(ctx, s.pool)
	if err != nil {
		return nil, err
	}
	out := map[string]int{"<1h": 0, "1h-24h": 0, ">24h": 0}
	for _, r := range rows {
		out[r.Age] = int(r.N)
	}
	return out, nil
}

func reviewFromRow(r dbsqlc.Review) (link.Review, error) {
	out := link.Review{
		ID: r.ID, WorkflowID: r.WorkflowID, CustomerID: r.CustomerID, PatientID: r.PatientID,
		Outcome: link.State(r.Outcome), Status: r.Status, CreatedAt: r.CreatedAt,
	}
	if err := json.Unmarshal(r.Candidates, &out.Candidates); err != nil {
		return out, fmt.Errorf("review %s: candidates: %w", r.ID, err)
	}
	if r.ClosedAt != nil {
		out.ClosedAt = *r.ClosedAt
	}
	for dst, src := range map[*string]*string{&out.Decision: r.Decision, &out.InternalPatientID: r.InternalPatientID, &out.Actor: r.Actor, &out.Reason: r.Reason} {
		if src != nil {
			*dst = *src
		}
	}
	if r.SupersededBy != nil {
		out.SupersededBy = *r.SupersededBy
	}
	return out, nil
}

// MappingHolderTx is the customer's patient whose LINKED mapping holds an
// internal patient; link.ErrNotFound when none does.
func (s *Store) MappingHolderTx(ctx context.Context, tx pgx.Tx, customerID uuid.UUID, internalID string) (uuid.UUID, error) {
	row, err := s.q.MappingGetLinkedByInternal(ctx, tx, dbsqlc.MappingGetLinkedByInternalParams{CustomerID: customerID, InternalPatientID: internalID})
	if errors.Is(err, pgx.ErrNoRows) {
		return uuid.Nil, link.ErrNotFound
	}
	if err != nil {
		return uuid.Nil, err
	}
	return row.CustomerPatientID, nil
}

// nonNil keeps an empty list an empty JSON array, not null.
func nonNil(m []link.Match) []link.Match {
	if m == nil {
		return []link.Match{}
	}
	return m
}
