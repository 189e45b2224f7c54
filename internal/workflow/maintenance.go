package workflow

import (
	"context"
	"log/slog"
	"time"

	"github.com/patientlink/patientlink/internal/postgres"
)

// PurgeIdempotencyKeys deletes expired keys, a bounded batch per
// transaction so no purge holds locks for long; it returns how many.
func (s *Service) PurgeIdempotencyKeys(ctx context.Context) (int64, error) {
	batch := s.d.Maintenance.PurgeBatch
	return s.drain(ctx, "idempotency keys", func() (int64, error) { return s.d.Store.PurgeIdempotencyKeys(ctx, batch) })
}

// PurgeWebhookSecrets forgets previous webhook secrets whose overlap ended
// and seals any still in plain text (written before secrets were sealed).
func (s *Service) PurgeWebhookSecrets(ctx context.Context) (int64, error) {
	purged, err := s.d.Store.PurgeExpiredSecrets(ctx)
	if err != nil {
		return purged, err
	}
	sealed, err := s.drain(ctx, "plain webhook secrets (sealed)", func() (int64, error) {
		return s.d.Store.SealPlainSecrets(ctx, s.d.Maintenance.PurgeBatch)
	})
	return purged + sealed, err
}

// PurgePayloads deletes the sealed patient data of workflows that ended
// more than the retention ago; workflows, mappings and history stay.
func (s *Service) PurgePayloads(ctx context.Context) (int64, error) {
	cfg := s.d.Maintenance
	return s.drain(ctx, "request payloads", func() (int64, error) {
		return s.d.Store.PurgePayloads(ctx, cfg.PayloadRetention, cfg.PurgeBatch)
	})
}

func (s *Service) drain(ctx context.Context, what string, batch func() (int64, error)) (int64, error) {
	var total int64
	for {
		n, err := batch()
		total += n
		if err != nil {
			return total, err
		}
		if n < int64(s.d.Maintenance.PurgeBatch) || ctx.Err() != nil {
			break
		}
	}
	if total > 0 {
		s.d.Logger.Info("purged", "what", what, "rows", total)
	}
	return total, ctx.Err()
}

// ReportStuck writes the regular report of pending workflows, for people
// to debug what reconciliation could not fix, and logs its summary once.
func (s *Service) ReportStuck(ctx context.Context) (postgres.StuckReport, error) {
	rep, err := s.d.Store.CreateStuckReport(ctx, 10)
	if err != nil {
		return rep, err
	}
	level := slog.LevelInfo
	if rep.PendingTotal > 0 {
		level = slog.LevelWarn
	}
	s.d.Logger.Log(ctx, level, "stuck workflow report", "report_id", rep.ID, "pending", rep.PendingTotal, "by_state_age", rep.ByStateAge,
		"oldest_open_reviews", len(rep.OpenReviews))
	s.d.Metrics.SetStuckReport(rep.PendingTotal)
	return rep, nil
}

// RunGauges refreshes the pending-workflow and River queue gauges every
// interval until ctx ends. The queries are small grouped counts over
// indexed columns.
func (s *Service) RunGauges(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		s.refreshGauges(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Service) refreshGauges(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if pending, err := s.d.Store.PendingByState(ctx); err == nil {
		s.d.Metrics.SetPending(pending)
	} else if ctx.Err() == nil {
		s.d.Logger.Warn("error refreshing pending gauge", "error", err)
	}
	if depth, err := s.d.Store.JobsByQueueState(ctx); err == nil {
		s.d.Metrics.SetQueueDepth(depth)
	}
	if reviews, err := s.d.Store.OpenReviewsByAge(ctx); err == nil {
		s.d.Metrics.SetOpenReviews(reviews)
	}
}
