// Package jobs is patientlink's River adapter: a worker per job kind that
// hands the job to its use case in internal/workflow, the periodic
// maintenance schedule, and River's configuration for a worker process.
package jobs

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/riverqueue/river"

	"github.com/patientlink/patientlink/internal/config"
	"github.com/patientlink/patientlink/internal/workflow"
)

// QueueMaintenance runs the periodic jobs, apart from customer work.
const QueueMaintenance = "maintenance"

// RescueStuckJobsAfter is when River's rescuer hands a job whose worker died
// (kill -9, OOM, a lost node) back for a retry. River's default of an hour
// left such workflows stuck for an hour: reconciliation counts a running job
// as live and leaves its workflow alone. River still waits for each kind's
// own timeout (webhook.deliver's is 2 minutes) before rescuing, and a job
// run twice is harmless: outcomes are recorded under the workflow's lock.
const RescueStuckJobsAfter = time.Minute

// RiverConfig is the River configuration of a worker process: its queues,
// the workers of every job kind and the periodic jobs.
func RiverConfig(logger *slog.Logger, w config.Workers, m config.Maintenance, svc *workflow.Service) *river.Config {
	workers := river.NewWorkers()
	river.AddWorker(workers, &processWorker{svc: svc, retry: Backoff{Base: w.RetryBase, Max: 5 * time.Minute}})
	river.AddWorker(workers, &deliverWorker{svc: svc})
	river.AddWorker(workers, &reconcileWorker{svc: svc})
	river.AddWorker(workers, &stuckReportWorker{svc: svc})
	river.AddWorker(workers, &purgeIdempotencyWorker{svc: svc})
	river.AddWorker(workers, &purgePayloadsWorker{svc: svc})

	var periodic []*river.PeriodicJob
	periodic = appendPeriodic(periodic, m.ReconcileEvery, func() river.JobArgs { return ReconcileArgs{} })
	periodic = appendPeriodic(periodic, m.StuckReportEvery, func() river.JobArgs { return StuckReportArgs{} })
	periodic = appendPeriodic(periodic, m.PurgeIdempotencyEvery, func() river.JobArgs { return PurgeIdempotencyArgs{} })
	periodic = appendPeriodic(periodic, m.PurgePayloadsEvery, func() river.JobArgs { return PurgePayloadsArgs{} })
	return &river.Config{
		Logger:            logger,
		FetchCooldown:     w.FetchCooldown,
		FetchPollInterval: w.FetchPollInterval,
		Queues: map[string]river.QueueConfig{
			workflow.QueueLink:    {MaxWorkers: w.LinkWorkers},
			workflow.QueueWebhook: {MaxWorkers: w.WebhookWorkers},
			QueueMaintenance:      {MaxWorkers: 2},
		},
		Workers:                     workers,
		PeriodicJobs:                periodic,
		CompletedJobRetentionPeriod: m.JobRetentionCompleted,
		CancelledJobRetentionPeriod: m.JobRetentionFailed,
		DiscardedJobRetentionPeriod: m.JobRetentionFailed,
		RescueStuckJobsAfter:        RescueStuckJobsAfter,
	}
}

// appendPeriodic schedules a maintenance job every interval. River inserts
// periodic jobs from the elected leader only, so one fires per interval
// however many workers run; uniqueness by period holds even if two clients
// briefly both believe they lead.
func appendPeriodic(jobs []*river.PeriodicJob, every time.Duration, args func() river.JobArgs) []*river.PeriodicJob {
	if every <= 0 {
		return jobs
	}
	opts := &river.InsertOpts{Queue: QueueMaintenance, MaxAttempts: 3}
	if every >= time.Second { // River's smallest unique period
		opts.UniqueOpts = river.UniqueOpts{ByPeriod: every}
	}
	return append(jobs, river.NewPeriodicJob(river.PeriodicInterval(every),
		func() (river.JobArgs, *river.InsertOpts) { return args(), opts }, nil))
}

// Backoff spaces retries of transient failures: Base doubled per attempt,
// capped at Max, with ±20% jitter so retries of many jobs spread out.
type Backoff struct {
	Base, Max time.Duration
}

// Next is the delay before the given attempt's retry.
func (b Backoff) Next(attempt int) time.Duration {
	d := b.Base << min(attempt-1, 30)
	if d <= 0 || d > b.Max {
		d = b.Max
	}
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// processWorker works link.process jobs.
type processWorker struct {
	river.WorkerDefaults[workflow.ProcessArgs]
	svc   *workflow.Service
	retry Backoff
}

// NextRetry overrides River's attempt⁴ default, which waits hours by the
// tenth try.
func (w *processWorker) NextRetry(job *river.Job[workflow.ProcessArgs]) time.Time {
	return time.Now().Add(w.retry.Next(job.Attempt))
}

func (w *processWorker) Work(ctx context.Context, job *river.Job[workflow.ProcessArgs]) error {
	return w.svc.Process(ctx, job)
}

// deliverWorker works webhook.deliver jobs. A failed attempt is returned
// to River as an error, so River UI shows why, and retried when the event's
// schedule says (the event, not River, decides when an attempt is due).
type deliverWorker struct {
	river.WorkerDefaults[workflow.DeliverArgs]
	svc  *workflow.Service
	next sync.Map // job id → time of the next attempt
}

func (w *deliverWorker) Timeout(*river.Job[workflow.DeliverArgs]) time.Duration {
	return workflow.DeliverTimeout
}

func (w *deliverWorker) Work(ctx context.Context, job *river.Job[workflow.DeliverArgs]) error {
	err := w.svc.Deliver(ctx, job)
	var failed *workflow.AttemptFailedError
	if errors.As(err, &failed) {
		w.next.Store(job.ID, failed.Next)
	}
	return err
}

// NextRetry is the event's next attempt after a failed one; after any other
// error (the database, say), River's default.
func (w *deliverWorker) NextRetry(job *river.Job[workflow.DeliverArgs]) time.Time {
	if v, ok := w.next.LoadAndDelete(job.ID); ok {
		if at, now := v.(time.Time), time.Now(); at.After(now) {
			return at
		}
		return time.Now() // River refuses a time before its own now
	}
	return time.Time{}
}
