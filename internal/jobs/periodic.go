package jobs

import (
	"context"

	"github.com/riverqueue/river"

	"github.com/patientlink/patientlink/internal/workflow"
)

// ReconcileArgs is the periodic reconcile job.
type ReconcileArgs struct{}

// Kind is the job's name in river_job.
func (ReconcileArgs) Kind() string { return "reconcile" }

// StuckReportArgs is the periodic stuck-workflow report.
type StuckReportArgs struct{}

// Kind is the job's name in river_job.
func (StuckReportArgs) Kind() string { return "stuck-report" }

// PurgeIdempotencyArgs is the periodic purge of expired idempotency keys
// and of expired (or still plain) webhook secrets.
type PurgeIdempotencyArgs struct{}

// Kind is the job's name in river_job.
func (PurgeIdempotencyArgs) Kind() string { return "purge-idempotency" }

// PurgePayloadsArgs is the periodic purge of old request payloads.
type PurgePayloadsArgs struct{}

// Kind is the job's name in river_job.
func (PurgePayloadsArgs) Kind() string { return "purge-payloads" }

type reconcileWorker struct {
	river.WorkerDefaults[ReconcileArgs]
	svc *workflow.Service
}

func (w *reconcileWorker) Work(ctx context.Context, _ *river.Job[ReconcileArgs]) error {
	_, err := w.svc.Reconcile(ctx)
	return err
}

type stuckReportWorker struct {
	river.WorkerDefaults[StuckReportArgs]
	svc *workflow.Service
}

func (w *stuckReportWorker) Work(ctx context.Context, _ *river.Job[StuckReportArgs]) error {
	_, err := w.svc.ReportStuck(ctx)
	return err
}

type purgeIdempotencyWorker struct {
	river.WorkerDefaults[PurgeIdempotencyArgs]
	svc *workflow.Service
}

func (w *purgeIdempotencyWorker) Work(ctx context.Context, _ *river.Job[PurgeIdempotencyArgs]) error {
	if _, err := w.svc.PurgeIdempotencyKeys(ctx); err != nil {
		return err
	}
	_, err := w.svc.PurgeWebhookSecrets(ctx)
	return err
}

type purgePayloadsWorker struct {
	river.WorkerDefaults[PurgePayloadsArgs]
	svc *workflow.Service
}

func (w *purgePayloadsWorker) Work(ctx context.Context, _ *river.Job[PurgePayloadsArgs]) error {
	_, err := w.svc.PurgePayloads(ctx)
	return err
}
