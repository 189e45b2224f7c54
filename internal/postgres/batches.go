package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/patientlink/patientlink/internal/link"
	"github.com/patientlink/patientlink/internal/postgres/internal/dbsqlc"
)

// BatchIntake is everything the acknowledgement of one bulk request
// writes: its idempotency record, the batch, and a LINK workflow (with
// history, sealed payload and job) for each valid patient.
type BatchIntake struct {
	CustomerID uuid.UUID
	BatchID    uuid.UUID
	Items      int         // items in the request, valid or not
	Links      []BatchLink // the valid ones, in request order, one per patient

	IdempotencyKey string
	RequestHash    []byte
	SameRequest    func(stored []byte) bool
	IdempotencyTTL time.Duration
}

// BatchLink is one valid patient of a bulk request.
type BatchLink struct {
	WorkflowID   uuid.UUID // fresh
	PatientID    uuid.UUID
	WebhookURL   string // per-request override, already checked
	PayloadKeyID string
	Payload      []byte // sealed patient data
}

// BatchLinkResult says what became of one BatchLink: created, or the
// workflow in the way (a LINKED mapping's, or the pending one's). Neither
// set: the pending workflow in the way ended before it could be named.
type BatchLinkResult struct {
	Created          bool
	LinkedWorkflowID uuid.UUID
	OpenWorkflowID   uuid.UUID
}

// EnqueueMany inserts the jobs of the created workflows, in the batch's
// transaction (River's InsertManyTx).
type EnqueueMany func(ctx context.Context, tx pgx.Tx, created []uuid.UUID) error

// BatchAnswer turns the results, one per BatchLink, into the stored answer.
type BatchAnswer func(results []BatchLinkResult) (Response, error)

// AcknowledgeBatch records a bulk request in one transaction, set-based:
// a handful of statements whatever the number of patients. Either every
// valid patient is acknowledged or nothing is written. replayed is true
// when the key was used before with the same request: resp is then the
// first answer.
func (s *Store) AcknowledgeBatch(ctx context.Context, in BatchIntake, enqueue EnqueueMany, answer BatchAnswer) (resp Response, replayed bool, err error) {
	err = s.WithTx(ctx, func(tx pgx.Tx) error {
		claimed, err := s.q.IdempotencyKeyClaim(ctx, tx, dbsqlc.IdempotencyKeyClaimParams{
			CustomerID: in.CustomerID, Key: in.IdempotencyKey, RequestHash: in.RequestHash,
			TTLSeconds: in.IdempotencyTTL.Seconds(),
		})
		if err != nil {
			return fmt.Errorf("error claiming idempotency key: %w", err)
		}
		if claimed == 0 {
			resp, err = s.replayKey(ctx, tx, in.CustomerID, in.IdempotencyKey, in.RequestHash, in.SameRequest)
			replayed = err == nil
			return err
		}
		if err := s.q.BatchCreate(ctx, tx, dbsqlc.BatchCreateParams{ID: in.BatchID, CustomerID: in.CustomerID, Items: int32(in.Items)}); err != nil {
			return fmt.Errorf("error inserting batch: %w", err)
		}
		results, created, err := s.createBatchWorkflows(ctx, tx, in)
		if err != nil {
			return err
		}
		if len(created) > 0 {
			if err := enqueue(ctx, tx, created); err != nil {
				return fmt.Errorf("error enqueueing jobs: %w", err)
			}
		}
		resp, err = answer(results)
		if err != nil {
			return err
		}
		return s.q.IdempotencyKeySetResponse(ctx, tx, dbsqlc.IdempotencyKeySetResponseParams{
			CustomerID: in.CustomerID, Key: in.IdempotencyKey,
			ResponseStatus: int32(resp.Status), ResponseBody: resp.Body,
		})
	})
	return resp, replayed, err
}

// createBatchWorkflows writes the workflows of in.Links and names, for
// each one not created, the workflow in the way.
func (s *Store) createBatchWorkflows(ctx context.Context, tx pgx.Tx, in BatchIntake) ([]BatchLinkResult, []uuid.UUID, error) {
	p := dbsqlc.WorkflowCreateBatchParams{CustomerID: in.CustomerID, BatchID: in.BatchID}
	for _, l := range in.Links {
		p.Ids = append(p.Ids, l.WorkflowID)
		p.PatientIds = append(p.PatientIds, l.PatientID)
		p.WebhookUrls = append(p.WebhookUrls, l.WebhookURL)
		p.KeyIds = append(p.KeyIds, l.PayloadKeyID)
		p.Sealed = append(p.Sealed, l.Payload)
	}
	rows, err := s.q.WorkflowCreateBatch(ctx, tx, p)
	if err != nil {
		return nil, nil, fmt.Errorf("error inserting batch workflows: %w", err)
	}
	if len(rows) != len(in.Links) {
		return nil, nil, fmt.Errorf("batch insert answered %d rows for %d patients", len(rows), len(in.Links))
	}
	results := make([]BatchLinkResult, len(rows))
	var created, busy []uuid.UUID
	for i, r := range rows {
		results[i] = BatchLinkResult{Created: r.Created, LinkedWorkflowID: r.LinkedWorkflowID}
		switch {
		case r.Created:
			created = append(created, r.ID)
		case r.LinkedWorkflowID == uuid.Nil:
			busy = append(busy, in.Links[i].PatientID)
		}
	}
	if len(busy) == 0 {
		return results, created, nil
	}
	open, err := s.q.WorkflowGetOpenForPatients(ctx, tx, dbsqlc.WorkflowGetOpenForPatientsParams{CustomerID: in.CustomerID, PatientIds: busy})
	if err != nil {
		return nil, nil, fmt.Errorf("error finding pending workflows: %w", err)
	}
	byPatient := make(map[uuid.UUID]uuid.UUID, len(open))
	for _, o := range open {
		byPatient[o.PatientID] = o.ID
	}
	for i, r := range results {
		if !r.Created && r.LinkedWorkflowID == uuid.Nil {
			results[i].OpenWorkflowID = byPatient[in.Links[i].PatientID]
		}
	}
	return results, created, nil
}

// Batch reads one of customerID's batches: link.ErrNotFound for another
// customer's. Its reads share one snapshot, so the counts and the pending
// list agree.
func (s *Store) Batch(ctx context.Context, customerID, id uuid.UUID) (link.Batch, error) {
	var b link.Batch
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		row, err := s.q.BatchGet(ctx, tx, dbsqlc.BatchGetParams{ID: id, CustomerID: customerID})
		if err != nil {
			return interpretError(err)
		}
		b = link.Batch{ID: row.ID, Items: int(row.Items), CreatedAt: row.CreatedAt, ByStatus: map[link.State]int{}, ByOutcome: map[link.State]int{}}
		counts, err := s.q.BatchCounts(ctx, tx, id)
		if err != nil {
			return err
		}
		for _, c := range counts {
			b.ByStatus[link.State(c.Status)] += int(c.N)
			if c.Outcome != nil {
				b.ByOutcome[link.State(*c.Outcome)] += int(c.N)
			}
		}
		b.Pending, err = s.q.BatchPending(ctx, tx, id)
		return err
	})
	return b, err
}
