package jobs

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/patientlink/patientlink/internal/link"
	"github.com/patientlink/patientlink/internal/postgres"
)

// Stop is the seed's wildcard: an operator moves a pending workflow to
// FAILED (reason "operator_stop: why") and cancels its jobs, in one
// transaction.
func Stop(ctx context.Context, store *postgres.Store, client *river.Client[pgx.Tx], id uuid.UUID, why string) (link.Workflow, error) {
	var out link.Workflow
	err := store.WithTx(ctx, func(tx pgx.Tx) error {
		if _, err := store.LockWorkflow(ctx, tx, id); err != nil {
			return err
		}
		wf, err := store.Workflow(ctx, id)
		if err != nil {
			return err
		}
		if out, err = store.Transition(ctx, tx, wf, postgres.Transition{To: link.StateFailed, Reason: "operator_stop: " + why, Attempt: wf.Attempt}); err != nil {
			return err
		}
		ids, err := store.LiveJobIDs(ctx, tx, id)
		if err != nil {
			return err
		}
		for _, jobID := range ids {
			if _, err := client.JobCancelTx(ctx, tx, jobID); err != nil {
				return fmt.Errorf("error cancelling job %d: %w", jobID, err)
			}
		}
		return nil
	})
	return out, err
}

// Retry puts a FAILED workflow back to work as a new attempt, its history
// kept. One that failed only at notification keeps its outcome and is
// redelivered instead: processing it again would fight its own mapping.
func Retry(ctx context.Context, store *postgres.Store, client *river.Client[pgx.Tx], id uuid.UUID) (link.Workflow, error) {
	wf, err := store.Workflow(ctx, id)
	if err != nil {
		return link.Workflow{}, err
	}
	if wf.Status != link.StateFailed {
		return link.Workflow{}, &link.TransitionError{WorkflowID: id, From: wf.Status, To: link.StateReceived}
	}
	if wf.Outcome != "" {
		return Redeliver(ctx, store, client, id)
	}
	var out link.Workflow
	err = store.WithTx(ctx, func(tx pgx.Tx) error {
		if out, err = store.Transition(ctx, tx, wf, postgres.Transition{To: link.StateReceived, Reason: "operator_retry", Retry: true}); err != nil {
			return err
		}
		if err := store.ResetReconciled(ctx, tx, out); err != nil {
			return err
		}
		_, err := client.InsertTx(ctx, tx, LinkProcessArgs{WorkflowID: out.ID, CustomerID: out.CustomerID, RequestType: out.RequestType}, nil)
		return err
	})
	return out, err
}
