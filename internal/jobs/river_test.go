package jobs_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/patientlink/patientlink/internal/config"
	"github.com/patientlink/patientlink/internal/jobs"
	"github.com/patientlink/patientlink/internal/link"
	"github.com/patientlink/patientlink/internal/pgtest"
	"github.com/patientlink/patientlink/internal/postgres"
	"github.com/patientlink/patientlink/internal/workflow"
)

// Must show: with two worker processes, each periodic job fires once per
// interval, not twice.
func TestPeriodicJobsFireOncePerInterval(t *testing.T) {
	t.Parallel()
	pool, _ := pgtest.Pool(t)
	logger := slog.New(slog.DiscardHandler)
	const every = time.Second
	m := config.Defaults().Maintenance
	m.ReconcileEvery, m.PurgeIdempotencyEvery = every, every
	m.StuckReportEvery, m.PurgePayloadsEvery = 0, 0
	for range 2 {
		// Each "process" has its own pool and River client.
		cfg := pool.Config()
		own, err := pgxpool.NewWithConfig(context.Background(), cfg)
		require.NoError(t, err)
		t.Cleanup(own.Close)
		svc := workflow.New(workflow.Deps{Store: postgres.New(own, nil), Policy: link.DefaultPolicy, Maintenance: m, Logger: logger})
		rc := jobs.RiverConfig(logger, config.Workers{
			LinkWorkers: 1, WebhookWorkers: 1, FetchCooldown: 10 * time.Millisecond, FetchPollInterval: 50 * time.Millisecond, RetryBase: time.Second,
		}, m, svc)
		client, err := river.NewClient(riverpgxv5.New(own), rc)
		require.NoError(t, err)
		svc.UseRiver(client)
		require.NoError(t, client.Start(context.Background()))
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = client.StopAndCancel(ctx)
		})
	}
	// Wait for a leader to be elected and the schedule to run a while.
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		var n int
		assert.NoError(c, pool.QueryRow(context.Background(), "SELECT count(*) FROM river_job WHERE kind = 'reconcile'").Scan(&n))
		assert.Positive(c, n)
	}, 20*time.Second, 50*time.Millisecond)
	time.Sleep(5 * time.Second)

	for _, kind := range []string{"reconcile", "purge-idempotency"} {
		rows, err := pool.Query(context.Background(), "SELECT created_at FROM river_job WHERE kind = $1 ORDER BY created_at", kind)
		require.NoError(t, err)
		times, err := pgx.CollectRows(rows, pgx.RowTo[time.Time])
		require.NoError(t, err)
		require.GreaterOrEqual(t, len(times), 4, kind)
		span := times[len(times)-1].Sub(times[0])
		require.LessOrEqual(t, len(times), int(span/every)+2, "%s fired %d times in %s: more than once per interval", kind, len(times), span)
		// Two leaders firing the same period would insert within
		// milliseconds of each other; a late schedule under load is not that.
		for i := 1; i < len(times); i++ {
			require.Greater(t, times[i].Sub(times[i-1]), 100*time.Millisecond, "%s fired twice at once", kind)
		}
	}
}
