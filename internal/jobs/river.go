package jobs

import (
	"log/slog"
	"time"

	"github.com/riverqueue/river"
)

// Settings size River for a worker process.
type Settings struct {
	Logger            *slog.Logger
	LinkWorkers       int
	WebhookWorkers    int
	FetchCooldown     time.Duration
	FetchPollInterval time.Duration
}

// Workers are the dependencies of patientlink's workers.
type Workers struct {
	Processor *LinkProcessor
	Retry     Backoff
	Sender    Sender
	Schedule  []time.Duration // webhook retry schedule
}

// RiverConfig is the River configuration of a worker process: its queues,
// workers and fetch settings.
func RiverConfig(s Settings, w Workers) *river.Config {
	workers := river.NewWorkers()
	river.AddWorker(workers, &LinkProcessWorker{Processor: w.Processor, Retry: w.Retry})
	river.AddWorker(workers, &WebhookDeliverWorker{
		Store: w.Processor.Store, Sender: w.Sender, Schedule: w.Schedule, Logger: s.Logger,
	})
	return &river.Config{
		Logger:            s.Logger,
		FetchCooldown:     s.FetchCooldown,
		FetchPollInterval: s.FetchPollInterval,
		Queues: map[string]river.QueueConfig{
			QueueLink:    {MaxWorkers: s.LinkWorkers},
			QueueWebhook: {MaxWorkers: s.WebhookWorkers},
		},
		Workers: workers,
	}
}
