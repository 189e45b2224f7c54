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
}

// Reconcile finds workflows whose work was lost (a job deleted, a process
// killed before it enqueued) and puts them back to work, a batch per
// transaction. Each gets the job it needs (link.process, or webhook.deliver
// when only the notification is missing), unique per workflow, and a
// reconcile attempt in its history; past the limit it becomes FAILED with
// reason reconcile_limit.
func (s *Service) Reconcile(ctx context.Context) (ReconcileResult, error) {
	cfg := s.d.Maintenance
	var total ReconcileResult
	for {
		var batch ReconcileResult
		n := 0
		err := s.d.Store.WithTx(ctx, func(tx pgx.Tx) error {
			stuck, err := s.d.Store.StuckWorkflowsTx(ctx, tx, cfg.ReconcileAfter, reconcileBatch)
			if err != nil {
				return err
			}
			n = len(stuck)
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
		if n < reconcileBatch {
			break
		}
	}
	if total.Requeued+total.Failed > 0 {
		s.d.Logger.Warn("reconciliation put lost work back", "requeued", total.Requeued, "failed", total.Failed)
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
		return true, s.renotifyTx(ctx, tx, failedWF)
	}
	count, err := s.d.Store.MarkReconciledTx(ctx, tx, wf)
	if err != nil {
		return false, err
	}
	s.d.Logger.Info("workflow put back to work", "workflow_id", wf.ID, "status", wf.Status, "reconcile_attempt", count)
	if wf.Status.IsOutcome() {
		return false, s.queueNotificationTx(ctx, tx, wf)
	}
	_, err = s.river.InsertTx(ctx, tx, processArgsOf(wf), nil)
	return false, err
}
