package jobs

import (
	"context"
	"log/slog"
	"time"

	"github.com/riverqueue/river"

	"github.com/patientlink/patientlink/internal/postgres"
)

// Purger deletes what is kept no longer than needed, in bounded batches so
// no transaction holds locks for long.
type Purger struct {
	Store            *postgres.Store
	Logger           *slog.Logger
	BatchSize        int
	PayloadRetention time.Duration // payloads of ended workflows are kept this long
}

// IdempotencyKeys deletes expired keys; it returns how many.
func (p *Purger) IdempotencyKeys(ctx context.Context) (int64, error) {
	return p.drain(ctx, "idempotency keys", func() (int64, error) { return p.Store.PurgeIdempotencyKeys(ctx, p.BatchSize) })
}

// Payloads deletes the sealed patient data of workflows that ended more
// than PayloadRetention ago; workflows, mappings and history stay.
func (p *Purger) Payloads(ctx context.Context) (int64, error) {
	return p.drain(ctx, "request payloads", func() (int64, error) { return p.Store.PurgePayloads(ctx, p.PayloadRetention, p.BatchSize) })
}

func (p *Purger) drain(ctx context.Context, what string, batch func() (int64, error)) (int64, error) {
	var total int64
	for {
		n, err := batch()
		total += n
		if err != nil {
			return total, err
		}
		if n < int64(p.BatchSize) || ctx.Err() != nil {
			break
		}
	}
	if total > 0 {
		p.Logger.Info("purged", "what", what, "rows", total)
	}
	return total, ctx.Err()
}

// PurgeIdempotencyArgs is the periodic purge of expired idempotency keys.
type PurgeIdempotencyArgs struct{}

// Kind is the job's name in river_job.
func (PurgeIdempotencyArgs) Kind() string { return "purge-idempotency" }

// PurgePayloadsArgs is the periodic purge of old request payloads.
type PurgePayloadsArgs struct{}

// Kind is the job's name in river_job.
func (PurgePayloadsArgs) Kind() string { return "purge-payloads" }

// PurgeIdempotencyWorker runs the idempotency purge.
type PurgeIdempotencyWorker struct {
	river.WorkerDefaults[PurgeIdempotencyArgs]
	Purger *Purger
}

// Work purges expired keys.
func (w *PurgeIdempotencyWorker) Work(ctx context.Context, _ *river.Job[PurgeIdempotencyArgs]) error {
	_, err := w.Purger.IdempotencyKeys(ctx)
	return err
}

// PurgePayloadsWorker runs the payload purge.
type PurgePayloadsWorker struct {
	river.WorkerDefaults[PurgePayloadsArgs]
	Purger *Purger
}

// Work purges old payloads.
func (w *PurgePayloadsWorker) Work(ctx context.Context, _ *river.Job[PurgePayloadsArgs]) error {
	_, err := w.Purger.Payloads(ctx)
	return err
}
