package jobs_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/stretchr/testify/require"

	"github.com/patientlink/patientlink/internal/jobs"
	"github.com/patientlink/patientlink/internal/link"
	"github.com/patientlink/patientlink/internal/pgtest"
	"github.com/patientlink/patientlink/internal/postgres"
)

func (b *testBundle) reconciler() *jobs.Reconciler {
	return &jobs.Reconciler{Store: b.store, Logger: slog.New(slog.DiscardHandler), After: 7 * time.Minute, Limit: 5, BatchSize: 100}
}

// loseWork deletes a workflow's jobs and backdates it: a lost message.
func (b *testBundle) loseWork(t *testing.T, id uuid.UUID) {
	t.Helper()
	_, err := b.pool.Exec(context.Background(), "DELETE FROM river_job WHERE args->>'workflow_id' = $1", id.String())
	require.NoError(t, err)
	_, err = b.pool.Exec(context.Background(), "UPDATE workflows SET updated_at = now() - interval '8 minutes' WHERE id = $1", id)
	require.NoError(t, err)
}

// insertOnly is a River client that inserts jobs but works none, so the
// test decides when work happens.
func insertOnly(t *testing.T, pool *pgxpool.Pool) *river.Client[pgx.Tx] {
	t.Helper()
	c, err := river.NewClient(riverpgxv5.New(pool), &river.Config{})
	require.NoError(t, err)
	return c
}

// Must show: a workflow whose job was deleted and whose updated_at is
// backdated is picked up by one reconcile pass and reaches COMPLETED.
func TestReconcileRecoversLostWork(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	p := findSingle(t, b.sim.Population())

	// Stop the workers so the job can be lost before anyone works it.
	require.NoError(t, b.client.Stop(context.Background()))
	id := b.submit(t, link.RequestLink, uuid.New(), p.FullName, p.DOB)
	b.loseWork(t, id)

	// Young or healthy workflows are left alone.
	fresh := b.submit(t, link.RequestLink, uuid.New(), "Fresh Request", "1990-01-01")

	res, err := b.reconciler().Pass(context.Background(), insertOnly(t, b.pool))
	require.NoError(t, err)
	require.Equal(t, jobs.ReconcileResult{Requeued: 1}, res)
	res, err = b.reconciler().Pass(context.Background(), insertOnly(t, b.pool))
	require.NoError(t, err)
	require.Equal(t, jobs.ReconcileResult{}, res, "a second pass finds a live job and does nothing")

	require.NoError(t, b.client.Start(context.Background()))
	wf := b.waitDone(t, id)
	require.Equal(t, link.StateCompleted, wf.Status)
	require.Equal(t, link.StateLinked, wf.Outcome)
	require.Equal(t, 1, count(t, b.pool, "SELECT count(*) FROM workflow_events WHERE workflow_id = $1 AND reason = 'reconcile'", id))
	require.Equal(t, link.StateCompleted, b.waitDone(t, fresh).Status)
	require.Zero(t, count(t, b.pool, "SELECT count(*) FROM workflow_events WHERE workflow_id = $1 AND reason = 'reconcile'", fresh))
}

// An outcome whose notification job was lost gets a delivery, not a second
// processing.
func TestReconcileRequeuesNotification(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	require.NoError(t, b.client.Stop(context.Background()))
	id := b.submit(t, link.RequestLink, uuid.New(), "Nobody Atall", "1901-01-01")
	// Record the outcome as a worker would have, then lose the webhook job.
	wf, err := b.store.Workflow(context.Background(), id)
	require.NoError(t, err)
	wf, err = b.store.TransitionNow(context.Background(), wf, postgres.Transition{To: link.StateInProgress})
	require.NoError(t, err)
	_, err = b.store.TransitionNow(context.Background(), wf, postgres.Transition{To: link.StateNoResults, Outcome: link.StateNoResults})
	require.NoError(t, err)
	b.loseWork(t, id)

	_, err = b.reconciler().Pass(context.Background(), insertOnly(t, b.pool))
	require.NoError(t, err)
	require.Equal(t, 1, count(t, b.pool, "SELECT count(*) FROM river_job WHERE kind = 'webhook.deliver' AND args->>'workflow_id' = $1", id))
	require.Zero(t, count(t, b.pool, "SELECT count(*) FROM river_job WHERE kind = 'link.process' AND args->>'workflow_id' = $1", id))

	require.NoError(t, b.client.Start(context.Background()))
	require.Equal(t, link.StateCompleted, b.waitDone(t, id).Status)
	require.Len(t, b.sink.Events(), 1)
}

// Must show: a workflow that fails every time goes FAILED after the limit,
// with the attempts in its history.
func TestReconcileLimit(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	require.NoError(t, b.client.Stop(context.Background()))
	id := b.submit(t, link.RequestLink, uuid.New(), "Always Lost", "1970-01-01")
	client := insertOnly(t, b.pool)
	for range 5 {
		b.loseWork(t, id)
		res, err := b.reconciler().Pass(context.Background(), client)
		require.NoError(t, err)
		require.Equal(t, jobs.ReconcileResult{Requeued: 1}, res)
	}
	b.loseWork(t, id)
	res, err := b.reconciler().Pass(context.Background(), client)
	require.NoError(t, err)
	require.Equal(t, jobs.ReconcileResult{Failed: 1}, res)

	wf, err := b.store.Workflow(context.Background(), id)
	require.NoError(t, err)
	require.Equal(t, link.StateFailed, wf.Status)
	require.Equal(t, jobs.ReasonReconcileLimit, wf.Reason)
	require.Equal(t, 5, count(t, b.pool, "SELECT count(*) FROM workflow_events WHERE workflow_id = $1 AND reason = 'reconcile'", id))
	require.Equal(t, 1, count(t, b.pool, "SELECT count(*) FROM workflow_events WHERE workflow_id = $1 AND to_status = 'FAILED' AND reason = 'reconcile_limit'", id))

	// The operator's retry starts a new attempt with a fresh count.
	wf, err = jobs.Retry(context.Background(), b.store, client, id)
	require.NoError(t, err)
	require.Equal(t, link.StateReceived, wf.Status)
	require.Equal(t, 2, wf.Attempt)
	require.NoError(t, b.client.Start(context.Background()))
	require.Equal(t, link.StateCompleted, b.waitDone(t, id).Status)
}

// workflow stop fails a pending workflow and cancels its job.
func TestStopCancelsJobs(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	require.NoError(t, b.client.Stop(context.Background()))
	id := b.submit(t, link.RequestLink, uuid.New(), "Stop Me", "1970-01-01")
	wf, err := jobs.Stop(context.Background(), b.store, insertOnly(t, b.pool), id, "customer asked")
	require.NoError(t, err)
	require.Equal(t, link.StateFailed, wf.Status)
	require.Equal(t, "operator_stop: customer asked", wf.Reason)
	require.Equal(t, 1, count(t, b.pool, "SELECT count(*) FROM river_job WHERE args->>'workflow_id' = $1 AND state = 'cancelled'", id))

	_, err = jobs.Stop(context.Background(), b.store, insertOnly(t, b.pool), id, "again")
	var terr *link.TransitionError
	require.ErrorAs(t, err, &terr, "an ended workflow cannot be stopped")
}

// Must show: purges delete what is due and nothing else, in bounded batches.
func TestPurges(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	require.NoError(t, b.client.Stop(context.Background()))
	ctx := context.Background()
	_, err := b.pool.Exec(ctx, `INSERT INTO idempotency_keys (customer_id, key, request_hash, response_status, response_body, expires_at)
		SELECT $1, 'old-' || g, '\x01', 202, '{}', now() - interval '1 minute' FROM generate_series(1, 2500) g`, b.customer.ID)
	require.NoError(t, err)
	_, err = b.pool.Exec(ctx, `INSERT INTO idempotency_keys (customer_id, key, request_hash, response_status, response_body, expires_at)
		SELECT $1, 'live-' || g, '\x01', 202, '{}', now() + interval '1 hour' FROM generate_series(1, 100) g`, b.customer.ID)
	require.NoError(t, err)

	var batches []int64
	for {
		n, err := b.store.PurgeIdempotencyKeys(ctx, 1000)
		require.NoError(t, err)
		batches = append(batches, n)
		if n < 1000 {
			break
		}
	}
	require.Equal(t, []int64{1000, 1000, 500}, batches, "bounded batches")
	require.Equal(t, 100, count(t, b.pool, "SELECT count(*) FROM idempotency_keys WHERE key LIKE 'live-%'"))
	require.Zero(t, count(t, b.pool, "SELECT count(*) FROM idempotency_keys WHERE key LIKE 'old-%'"))

	// Payloads: only those of workflows that ended before the retention.
	old := b.submit(t, link.RequestLink, uuid.New(), "Old Done", "1970-01-01")
	recent := b.submit(t, link.RequestLink, uuid.New(), "Recent Done", "1970-01-01")
	pending := b.submit(t, link.RequestLink, uuid.New(), "Still Pending", "1970-01-01")
	_, err = b.pool.Exec(ctx, "UPDATE workflows SET status = 'COMPLETED', outcome = 'NO_RESULTS', ended_at = now() - interval '31 days' WHERE id = $1", old)
	require.NoError(t, err)
	_, err = b.pool.Exec(ctx, "UPDATE workflows SET status = 'COMPLETED', outcome = 'NO_RESULTS', ended_at = now() - interval '1 day' WHERE id = $1", recent)
	require.NoError(t, err)
	purger := &jobs.Purger{Store: b.store, Logger: slog.New(slog.DiscardHandler), BatchSize: 1, PayloadRetention: 30 * 24 * time.Hour}
	n, err := purger.Payloads(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 1, n)
	require.Zero(t, count(t, b.pool, "SELECT count(*) FROM request_payloads WHERE workflow_id = $1", old))
	require.Equal(t, 2, count(t, b.pool, "SELECT count(*) FROM request_payloads WHERE workflow_id IN ($1, $2)", recent, pending))
	require.Equal(t, 1, count(t, b.pool, "SELECT count(*) FROM workflows WHERE id = $1", old), "the workflow stays")
	require.Positive(t, count(t, b.pool, "SELECT count(*) FROM workflow_events WHERE workflow_id = $1", old), "its history stays")
}

func TestStuckReport(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	require.NoError(t, b.client.Stop(context.Background()))
	old := b.submit(t, link.RequestLink, uuid.New(), "Old One", "1970-01-01")
	b.submit(t, link.RequestLink, uuid.New(), "New One", "1970-01-01")
	_, err := b.pool.Exec(context.Background(), "UPDATE workflows SET created_at = now() - interval '2 hours' WHERE id = $1", old)
	require.NoError(t, err)
	rep, err := (&jobs.Reporter{Store: b.store, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}).Report(context.Background())
	require.NoError(t, err)
	require.Equal(t, 2, rep.PendingTotal)
	require.Equal(t, map[string]map[string]int{"RECEIVED": {"<7m": 1, "1h-24h": 1}}, rep.ByStateAge)
	require.Equal(t, old.String(), rep.Oldest[0].WorkflowID)
	require.GreaterOrEqual(t, rep.Oldest[0].AgeSeconds, int64(7200))
	require.Equal(t, 1, count(t, b.pool, "SELECT count(*) FROM reconciliation_reports"))
}

// Must show: with two worker processes, each periodic job fires once per
// interval, not twice.
func TestPeriodicJobsFireOncePerInterval(t *testing.T) {
	t.Parallel()
	pool, _ := pgtest.Pool(t)
	store := postgres.New(pool)
	logger := slog.New(slog.DiscardHandler)
	const every = time.Second
	for range 2 {
		// Each "process" has its own pool and River client.
		cfg := pool.Config()
		own, err := pgxpool.NewWithConfig(context.Background(), cfg)
		require.NoError(t, err)
		t.Cleanup(own.Close)
		ownStore := postgres.New(own)
		rc := jobs.RiverConfig(jobs.Settings{
			Logger: logger, LinkWorkers: 1, WebhookWorkers: 1, FetchCooldown: 10 * time.Millisecond, FetchPollInterval: 50 * time.Millisecond,
			ReconcileEvery: every, PurgeIdempotencyEvery: every,
		}, jobs.Workers{
			Processor:  &jobs.LinkProcessor{Store: ownStore, Logger: logger, Policy: link.DefaultPolicy},
			Reconciler: &jobs.Reconciler{Store: ownStore, Logger: logger, After: time.Hour, Limit: 5, BatchSize: 10},
			Purger:     &jobs.Purger{Store: ownStore, Logger: logger, BatchSize: 10, PayloadRetention: time.Hour},
		})
		client, err := river.NewClient(riverpgxv5.New(own), rc)
		require.NoError(t, err)
		require.NoError(t, client.Start(context.Background()))
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = client.StopAndCancel(ctx)
		})
	}
	_ = store
	// Wait for a leader to be elected and the schedule to run a while.
	require.Eventually(t, func() bool {
		return count(t, pool, "SELECT count(*) FROM river_job WHERE kind = 'reconcile'") >= 1
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
