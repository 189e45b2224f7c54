package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/patientlink/patientlink/internal/link"
	"github.com/patientlink/patientlink/internal/postgres/internal/dbsqlc"
)

// Intake is everything the acknowledgement of one request writes.
type Intake struct {
	CustomerID  uuid.UUID
	WorkflowID  uuid.UUID // fresh; used only if this request is the first with its key
	PatientID   uuid.UUID
	RequestType link.RequestType
	WebhookURL  string // per-request override, already checked

	IdempotencyKey string
	RequestHash    []byte                   // the request's keyed fingerprint, stored with the key
	SameRequest    func(stored []byte) bool // whether a stored fingerprint is this request's; nil compares bytes
	IdempotencyTTL time.Duration
	Response       Response // what to answer, stored for replays

	PayloadKeyID string // seal key id; empty for requests with no payload
	Payload      []byte // sealed patient data
}

// Response is a stored HTTP answer.
type Response struct {
	Status     int
	Body       []byte
	WorkflowID uuid.UUID
}

// Enqueue inserts the job that follows an acknowledgement, in its
// transaction (River's InsertTx).
type Enqueue func(ctx context.Context, tx pgx.Tx) error

// Acknowledge records a request in one transaction: the idempotency record,
// the workflow with its first history event and sealed payload, and the job
// that will process it. replayed is true when the key was used before with
// the same request: resp is then the first answer and nothing was written.
//
// Requests racing with one key serialise on the key's row: the later ones
// wait for the first to commit and then replay its answer.
func (s *Store) Acknowledge(ctx context.Context, in Intake, enqueue Enqueue) (resp Response, replayed bool, err error) {
	// A request that finds the patient busy names the workflow in the way;
	// when that workflow has ended in between (a fast worker), the patient
	// is free again and the request is tried afresh: 202, or 409 naming
	// whatever is in the way now, never "not found".
	for range maxIntakeTries - 1 {
		resp, replayed, err = s.acknowledgeOnce(ctx, in, enqueue)
		if !errors.Is(err, errOpenWorkflowEnded) {
			return resp, replayed, err
		}
	}
	resp, replayed, err = s.acknowledgeOnce(ctx, in, enqueue)
	if !errors.Is(err, errOpenWorkflowEnded) {
		return resp, replayed, err
	}
	// Busy every time, with workflows ending as fast as they start: name
	// the newest one; the caller retries later.
	latest, err := s.q.WorkflowGetLatestForPatient(ctx, s.pool, dbsqlc.WorkflowGetLatestForPatientParams{
		CustomerID: in.CustomerID, PatientID: in.PatientID,
	})
	if err != nil {
		return Response{}, false, fmt.Errorf("error finding latest workflow: %w", err)
	}
	return Response{}, false, &link.ConflictError{WorkflowID: latest.ID, Detail: "workflows for this patient are being processed; retry shortly"}
}

// maxIntakeTries bounds the retries of a request racing with short
// workflows of its patient.
const maxIntakeTries = 5

var errOpenWorkflowEnded = errors.New("the open workflow of the patient ended before it could be named")

func (s *Store) acknowledgeOnce(ctx context.Context, in Intake, enqueue Enqueue) (resp Response, replayed bool, err error) {
	err = s.WithTx(ctx, func(tx pgx.Tx) error {
		// One round trip claims the key and, if that succeeded, writes the
		// workflow, its first event and its payload.
		created, err := s.q.WorkflowCreateClaimingKey(ctx, tx, dbsqlc.WorkflowCreateClaimingKeyParams{
			CustomerID:     in.CustomerID,
			Key:            in.IdempotencyKey,
			RequestHash:    in.RequestHash,
			ResponseStatus: int32(in.Response.Status),
			ResponseBody:   in.Response.Body,
			ID:             in.WorkflowID,
			TTLSeconds:     in.IdempotencyTTL.Seconds(),
			PatientID:      in.PatientID,
			RequestType:    string(in.RequestType),
			WebhookURL:     nullString(in.WebhookURL),
			KeyID:          in.PayloadKeyID,
			Sealed:         in.Payload,
		})
		if isUniqueViolation(err, "workflows_one_open_per_patient") {
			return errOpenWorkflow
		}
		if err != nil {
			return fmt.Errorf("error claiming idempotency key and inserting workflow: %w", err)
		}
		if created.Claimed == 0 {
			resp, err = s.replayKey(ctx, tx, in.CustomerID, in.IdempotencyKey, in.RequestHash, in.SameRequest)
			replayed = err == nil
			return err
		}
		if created.Created == 0 {
			if in.RequestType == link.RequestDelink {
				return fmt.Errorf("patient is not linked: %w", link.ErrNotFound)
			}
			return &link.ConflictError{WorkflowID: created.LinkedWorkflowID, Detail: "this patient is already linked"}
		}
		if err := enqueue(ctx, tx); err != nil {
			return fmt.Errorf("error enqueueing job: %w", err)
		}
		resp = in.Response
		resp.WorkflowID = in.WorkflowID
		return nil
	})
	if errors.Is(err, errOpenWorkflow) {
		// The transaction is gone; name the workflow in the way.
		open, getErr := s.q.WorkflowGetOpenForPatient(ctx, s.pool, dbsqlc.WorkflowGetOpenForPatientParams{
			CustomerID: in.CustomerID, PatientID: in.PatientID,
		})
		if errors.Is(getErr, pgx.ErrNoRows) {
			return Response{}, false, errOpenWorkflowEnded
		}
		if getErr != nil {
			return Response{}, false, fmt.Errorf("error finding open workflow: %w", getErr)
		}
		return Response{}, false, &link.ConflictError{WorkflowID: open.ID, Detail: "a workflow for this patient is still pending"}
	}
	return resp, replayed, err
}

var errOpenWorkflow = errors.New("open workflow for patient")

// replayKey reads the stored answer for (customerID, key), checking that it
// was given to the same request.
func (s *Store) replayKey(ctx context.Context, tx pgx.Tx, customerID uuid.UUID, key string, hash []byte, same func([]byte) bool) (Response, error) {
	row, err := s.q.IdempotencyKeyGet(ctx, tx, dbsqlc.IdempotencyKeyGetParams{CustomerID: customerID, Key: key})
	if err != nil {
		// Expired between the claim and this read: a retry will claim it.
		return Response{}, fmt.Errorf("error reading idempotency key: %w", err)
	}
	if same == nil {
		same = func(stored []byte) bool { return bytes.Equal(stored, hash) }
	}
	if !same(row.RequestHash) {
		return Response{}, link.ErrIdempotencyMismatch
	}
	r := Response{Status: int(row.ResponseStatus), Body: row.ResponseBody}
	if row.WorkflowID != nil {
		r.WorkflowID = *row.WorkflowID
	}
	return r, nil
}
