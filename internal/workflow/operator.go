package workflow

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/patientlink/patientlink/internal/link"
	"github.com/patientlink/patientlink/internal/postgres"
)

// Stop is the seed's wildcard: an operator moves a workflow that is still
// being processed to FAILED (reason "operator_stop: why"), cancels its
// processing jobs and tells the customer, in one transaction, recording
// who did it. A workflow with an outcome cannot be stopped: the outcome
// stands.
func (s *Service) Stop(ctx context.Context, id uuid.UUID, actor, why string) (link.Workflow, error) {
	var out link.Workflow
	err := s.d.Store.WithTx(ctx, func(tx pgx.Tx) error {
		wf, err := s.d.Store.LockWorkflowTx(ctx, tx, id)
		if err != nil {
			return err
		}
		if !wf.Status.IsProcessing() {
			return &link.TransitionError{WorkflowID: id, From: wf.Status, To: link.StateFailed}
		}
		reason := link.ReasonOperatorStop.With(why)
		if out, err = s.d.Store.TransitionTx(ctx, tx, wf, postgres.Transition{To: link.StateFailed, Reason: reason, Attempt: wf.Attempt, Actor: actor}); err != nil {
			return err
		}
		ids, err := s.d.Store.LiveJobIDsTx(ctx, tx, id, ProcessArgs{}.Kind())
		if err != nil {
			return err
		}
		for _, jobID := range ids {
			if _, err := s.river.JobCancelTx(ctx, tx, jobID); err != nil {
				return fmt.Errorf("error cancelling job %d: %w", jobID, err)
			}
		}
		if err := s.d.Store.RecordActionTx(ctx, tx, postgres.Action{
			Actor: actor, Action: "stop", CustomerID: wf.CustomerID, WorkflowID: id, Reason: why,
			Detail: map[string]any{"from": wf.Status, "cancelled_jobs": ids},
		}); err != nil {
			return err
		}
		_, err = s.notifyTx(ctx, tx, out, outcomeDetails{})
		return err
	})
	return out, err
}

// Retry puts a FAILED workflow back to work as a new attempt, its history
// kept, recording who did it.
func (s *Service) Retry(ctx context.Context, id uuid.UUID, actor, why string) (link.Workflow, error) {
	var out link.Workflow
	err := s.d.Store.WithTx(ctx, func(tx pgx.Tx) error {
		wf, err := s.d.Store.LockWorkflowTx(ctx, tx, id)
		if err != nil {
			return err
		}
		if wf.Status != link.StateFailed {
			return &link.TransitionError{WorkflowID: id, From: wf.Status, To: link.StateReceived}
		}
		if out, err = s.d.Store.TransitionTx(ctx, tx, wf, postgres.Transition{To: link.StateReceived, Reason: string(link.ReasonOperatorRetry), Retry: true, Actor: actor}); err != nil {
			return err
		}
		if err := s.d.Store.ResetReconciledTx(ctx, tx, out); err != nil {
			return err
		}
		if err := s.d.Store.RecordActionTx(ctx, tx, postgres.Action{
			Actor: actor, Action: "retry", CustomerID: wf.CustomerID, WorkflowID: id, Reason: why,
			Detail: map[string]any{"failed_reason": wf.Reason, "attempt": out.Attempt},
		}); err != nil {
			return err
		}
		_, err = s.river.InsertTx(ctx, tx, processArgsOf(out), nil)
		return err
	})
	return out, err
}

// SetWebhook changes where a customer's events are delivered (empty: the
// feed only), recording who did it and the URLs' hosts.
func (s *Service) SetWebhook(ctx context.Context, customerID uuid.UUID, url, actor, why string) (link.Customer, error) {
	var out link.Customer
	err := s.d.Store.WithTx(ctx, func(tx pgx.Tx) error {
		before, err := s.d.Store.CustomerTx(ctx, tx, customerID)
		if err != nil {
			return err
		}
		if out, err = s.d.Store.CustomerSetWebhookTx(ctx, tx, customerID, url); err != nil {
			return err
		}
		return s.d.Store.RecordActionTx(ctx, tx, postgres.Action{
			Actor: actor, Action: "set-webhook", CustomerID: customerID, Reason: why,
			Detail: map[string]any{"from_host": hostOrEmpty(before.WebhookURL), "to_host": hostOrEmpty(url)},
		})
	})
	return out, err
}

// hostOrEmpty keeps paths and queries (they may carry tokens) out of
// history.
func hostOrEmpty(raw string) string {
	if raw == "" {
		return ""
	}
	return hostOf(raw)
}
