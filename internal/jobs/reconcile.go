package jobs

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/patientlink/patientlink/internal/link"
	"github.com/patientlink/patientlink/internal/postgres"
)

// ReasonReconcileLimit marks a workflow reconciliation gave up on.
const ReasonReconcileLimit = "reconcile_limit"

// Reconciler finds workflows whose work was lost (a job deleted, a process
// killed before it enqueued) and puts them back to work.
type Reconciler struct {
	Store     *postgres.Store
	Logger    *slog.Logger
	After     time.Duration // how long a pending workflow may go without progress
	Limit     int           // reconcile attempts before FAILED
	BatchSize int           // workflows per transaction
}

// ReconcileResult counts what a pass did.
type ReconcileResult struct {
	Requeued, Failed int
}

// Pass reconciles every stuck workflow, a batch per transaction. Each one
// gets the job it needs (link.process, or webhook.deliver when only the
// notification is missing), unique per workflow, and a reconcile attempt in
// its history; past Limit it becomes FAILED with reason reconcile_limit.
func (r *Reconciler) Pass(ctx context.Context, client *river.Client[pgx.Tx]) (ReconcileResult, error) {
	var total ReconcileResult
	for {
		var batch ReconcileResult
		n := 0
		err := r.Store.WithTx(ctx, func(tx pgx.Tx) error {
			stuck, err := r.Store.StuckWorkflows(ctx, tx, r.After, r.BatchSize)
			if err != nil {
				return err
			}
			n = len(stuck)
			for _, wf := range stuck {
				failed, err := r.reconcile(ctx, client, tx, wf)
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
		if n < r.BatchSize {
			break
		}
	}
	if total.Requeued+total.Failed > 0 {
		r.Logger.Warn("reconciliation put lost work back", "requeued", total.Requeued, "failed", total.Failed)
	}
	return total, nil
}

func (r *Reconciler) reconcile(ctx context.Context, client *river.Client[pgx.Tx], tx pgx.Tx, wf link.Workflow) (failed bool, err error) {
	if wf.Reconciled >= r.Limit {
		r.Logger.Warn("workflow failed after reconcile limit", "workflow_id", wf.ID, "status", wf.Status, "reconciled", wf.Reconciled)
		failedWF, err := r.Store.Transition(ctx, tx, wf, postgres.Transition{To: link.StateFailed, Reason: ReasonReconcileLimit, Attempt: wf.Reconciled})
		if err != nil {
			return false, err
		}
		return true, renotify(ctx, r.Store, client, tx, failedWF)
	}
	count, err := r.Store.MarkReconciled(ctx, tx, wf)
	if err != nil {
		return false, err
	}
	r.Logger.Info("workflow put back to work", "workflow_id", wf.ID, "status", wf.Status, "reconcile_attempt", count)
	if wf.Status.IsOutcome() {
		err = queueNotification(ctx, client, tx, wf)
	} else {
		_, err = client.InsertTx(ctx, tx, LinkProcessArgs{WorkflowID: wf.ID, CustomerID: wf.CustomerID, RequestType: wf.RequestType}, nil)
	}
	return false, err
}

// ReconcileArgs is the periodic reconcile job.
type ReconcileArgs struct{}

// Kind is the job's name in river_job.
func (ReconcileArgs) Kind() string { return "reconcile" }

// ReconcileWorker runs a pass.
type ReconcileWorker struct {
	river.WorkerDefaults[ReconcileArgs]
	Reconciler *Reconciler
}

// Work runs one reconcile pass.
func (w *ReconcileWorker) Work(ctx context.Context, job *river.Job[ReconcileArgs]) error {
	_, err := w.Reconciler.Pass(ctx, river.ClientFromContext[pgx.Tx](ctx))
	return err
}
