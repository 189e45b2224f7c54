package jobs

import (
	"log/slog"
	"time"

	"github.com/riverqueue/river"

	"github.com/patientlink/patientlink/internal/metrics"
)

// Settings size River for a worker process.
type Settings struct {
	Logger            *slog.Logger
	LinkWorkers       int
	WebhookWorkers    int
	FetchCooldown     time.Duration
	FetchPollInterval time.Duration

	// Periodic jobs; zero disables one.
	ReconcileEvery        time.Duration
	StuckReportEvery      time.Duration
	PurgeIdempotencyEvery time.Duration
	PurgePayloadsEvery    time.Duration

	// River's retention of finished jobs, so river_job does not grow
	// forever; zero keeps River's default.
	CompletedRetention time.Duration
	CancelledRetention time.Duration
	DiscardedRetention time.Duration
}

// QueueMaintenance runs the periodic jobs, apart from customer work.
const QueueMaintenance = "maintenance"

// Workers are the dependencies of patientlink's workers.
type Workers struct {
	Processor  *LinkProcessor
	Retry      Backoff
	Sender     Sender
	Schedule   []time.Duration // webhook retry schedule
	Reconciler *Reconciler
	Purger     *Purger
	Reporter   *Reporter
	Metrics    *metrics.Metrics // may be nil
}

// RiverConfig is the River configuration of a worker process: its queues,
// workers and fetch settings.
func RiverConfig(s Settings, w Workers) *river.Config {
	workers := river.NewWorkers()
	river.AddWorker(workers, &LinkProcessWorker{Processor: w.Processor, Retry: w.Retry})
	river.AddWorker(workers, &WebhookDeliverWorker{
		Store: w.Processor.Store, Sender: w.Sender, Schedule: w.Schedule, Logger: s.Logger, Metrics: w.Metrics,
	})
	var periodic []*river.PeriodicJob
	if w.Reconciler != nil {
		river.AddWorker(workers, &ReconcileWorker{Reconciler: w.Reconciler})
		periodic = appendPeriodic(periodic, s.ReconcileEvery, func() river.JobArgs { return ReconcileArgs{} })
	}
	if w.Reporter != nil {
		river.AddWorker(workers, &StuckReportWorker{Reporter: w.Reporter})
		periodic = appendPeriodic(periodic, s.StuckReportEvery, func() river.JobArgs { return StuckReportArgs{} })
	}
	if w.Purger != nil {
		river.AddWorker(workers, &PurgeIdempotencyWorker{Purger: w.Purger})
		river.AddWorker(workers, &PurgePayloadsWorker{Purger: w.Purger})
		periodic = appendPeriodic(periodic, s.PurgeIdempotencyEvery, func() river.JobArgs { return PurgeIdempotencyArgs{} })
		periodic = appendPeriodic(periodic, s.PurgePayloadsEvery, func() river.JobArgs { return PurgePayloadsArgs{} })
	}
	queues := map[string]river.QueueConfig{
		QueueLink:    {MaxWorkers: s.LinkWorkers},
		QueueWebhook: {MaxWorkers: s.WebhookWorkers},
	}
	if len(periodic) > 0 {
		queues[QueueMaintenance] = river.QueueConfig{MaxWorkers: 2}
	}
	return &river.Config{
		Logger:                      s.Logger,
		FetchCooldown:               s.FetchCooldown,
		FetchPollInterval:           s.FetchPollInterval,
		Queues:                      queues,
		Workers:                     workers,
		PeriodicJobs:                periodic,
		CompletedJobRetentionPeriod: s.CompletedRetention,
		CancelledJobRetentionPeriod: s.CancelledRetention,
		DiscardedJobRetentionPeriod: s.DiscardedRetention,
		RescueStuckJobsAfter:        RescueStuckJobsAfter,
	}
}

// RescueStuckJobsAfter is when River's rescuer hands a job whose worker died
// (kill -9, OOM, a lost node) back for a retry. River's default of an hour
// left such workflows stuck for an hour: reconciliation counts a running job
// as live and leaves its workflow alone. River still waits for each kind's
// own timeout (webhook.deliver's is 2 minutes) before rescuing, and a job
// run twice is harmless: outcomes are recorded under the workflow's lock.
const RescueStuckJobsAfter = time.Minute

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
