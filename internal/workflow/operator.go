package workflow

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/patientlink/patientlink/internal/link"
	"github.com/patientlink/patientlink/internal/postgres"
)

// Stop is the seed's wildcard: an operator moves a pending workflow to
// FAILED (reason "operator_stop: why") and cancels its jobs, in one
// transaction.
func (s *Service) Stop(ctx context.Context, id uuid.UUID, why string) (link.Workflow, error) {
	var out link.Workflow
	err := s.d.Store.WithTx(ctx, func(tx pgx.Tx) error {
		wf, err := s.d.Store.LockWorkflowTx(ctx, tx, id)
		if err != nil {
			return err
		}
		if out, err = s.d.Store.TransitionTx(ctx, tx, wf, postgres.Transition{To: link.StateFailed, Reason: link.ReasonOperatorStop.With(why), Attempt: wf.Attempt}); err != nil {
			return err
		}
		ids, err := s.d.Store.LiveJobIDsTx(ctx, tx, id)
		if err != nil {
			return err
		}
		for _, jobID := range ids {
			if _, err := s.river.JobCancelTx(ctx, tx, jobID); err != nil {
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
func (s *Service) Retry(ctx context.Context, id uuid.UUID) (link.Workflow, error) {
	wf, err := s.d.Store.Workflow(ctx, id)
	if err != nil {
		return link.Workflow{}, err
	}
	if wf.Status != link.StateFailed {
		return link.Workflow{}, &link.TransitionError{WorkflowID: id, From: wf.Status, To: link.StateReceived}
	}
	if wf.Outcome != "" {
		return s.Redeliver(ctx, id)
	}
	var out link.Workflow
	err = s.d.Store.WithTx(ctx, func(tx pgx.Tx) error {
		if out, err = s.d.Store.TransitionTx(ctx, tx, wf, postgres.Transition{To: link.StateReceived, Reason: string(link.ReasonOperatorRetry), Retry: true}); err != nil {
			return err
		}
		if err := s.d.Store.ResetReconciledTx(ctx, tx, out); err != nil {
			return err
		}
		_, err := s.river.InsertTx(ctx, tx, processArgsOf(out), nil)
		return err
	})
	return out, err
}
