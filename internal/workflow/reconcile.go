package workflow

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/patientlink/patientlink/internal/link"
	"github.com/patientlink/patientlink/internal/postgres"
)

// reconcileBatch is how many stuck workflows one transaction handles.
const reconcileBatch = 500

// ReconcileResult counts what a pass did.
type ReconcileResult struct {
	Requeued, Failed int
	Redelivered      int // events whose delivery job was lost
}

// Reconcile finds work that was lost (a job deleted, a process killed
// before it enqueued) and puts it back, a batch per transaction: a workflow
// being processed gets its link.process job again, with a reconcile attempt
// in its history, and past the limit becomes FAILED with reason
// reconcile_limit; an event whose delivery job vanished gets a new one.
// Jobs are unique per workflow and per event, so a pass racing a retry
// cannot double the work.
func (s *Service) Reconcile(ctx context.Context) (ReconcileResult, error) {
	cfg := s.d.Maintenance
	var total ReconcileResult
	for more := true; more; {
		var batch ReconcileResult
		err := s.d.Store.WithTx(ctx, func(tx pgx.Tx) error {
			stuck, err := s.d.Store.StuckWorkflowsTx(ctx, tx, cfg.ReconcileAfter, reconcileBatch)
			if err != nil {
				return err
			}
			more = len(stuck) == reconcileBatch
			for _, wf := range stuck {
				failed, err := s.reconcileTx(ctx, tx, wf)
				if err != nil {
					return fmt.Errorf("workflow %s: %w", wf.ID, err)
				}
				if failed {
					batch.Failed++
				} else {
					batch.Requeued++
				}
			}
			return nil
		})
		if err != nil {
			return total, err
		}
		total.Requeued += batch.Requeued
		total.Failed += batch.Failed
	}
	for more := true; more; {
		n := 0
		err := s.d.Store.WithTx(ctx, func(tx pgx.Tx) error {
			stuck, err := s.d.Store.StuckEventsTx(ctx, tx, cfg.ReconcileAfter, reconcileBatch)
			if err != nil {
				return err
			}
			more = len(stuck) == reconcileBatch
			for _, ev := range stuck {
				s.d.Logger.Info("event delivery put back to work", "event_id", ev.ID, "workflow_id", ev.WorkflowID)
				if err := s.queueDeliveryTx(ctx, tx, ev); err != nil {
					return fmt.Errorf("event %s: %w", ev.ID, err)
				}
				n++
			}
			return nil
		})
		if err != nil {
			return total, err
		}
		total.Redelivered += n
	}
	if total.Requeued+total.Failed+total.Redelivered > 0 {
		s.d.Logger.Warn("reconciliation put lost work back", "requeued", total.Requeued, "failed", total.Failed, "redelivered", total.Redelivered)
	}
	return total, nil
}

func (s *Service) reconcileTx(ctx context.Context, tx pgx.Tx, wf link.Workflow) (failed bool, err error) {
	if wf.Reconciled >= s.d.Maintenance.ReconcileLimit {
		s.d.Logger.Warn("workflow failed after reconcile limit", "workflow_id", wf.ID, "status", wf.Status, "reconciled", wf.Reconciled)
		failedWF, err := s.d.Store.TransitionTx(ctx, tx, wf, postgres.Transition{To: link.StateFailed, Reason: string(link.ReasonReconcileLimit), Attempt: wf.Reconciled})
		if err != nil {
			return false, err
		}
		_, err = s.notifyTx(ctx, tx, failedWF, outcomeDetails{})
		return true, err
	}
	count, err := s.d.Store.MarkReconciledTx(ctx, tx, wf)
	if err != nil {
		return false, err
	}
	s.d.Logger.Info("workflow put back to work", "workflow_id", wf.ID, "status", wf.Status, "reconcile_attempt", count)
	_, err = s.river.InsertTx(ctx, tx, processArgsOf(wf), nil)
	return false, err
}
