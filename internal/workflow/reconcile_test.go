package workflow_test

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/patientlink/patientlink/internal/link"
	"github.com/patientlink/patientlink/internal/postgres"
	"github.com/patientlink/patientlink/internal/workflow"
)

// loseWork deletes a workflow's jobs and backdates it: a lost message.
func (b *testBundle) loseWork(t *testing.T, id uuid.UUID) {
	t.Helper()
	_, err := b.pool.Exec(context.Background(), "DELETE FROM river_job WHERE args->>'workflow_id' = $1", id.String())
	require.NoError(t, err)
	_, err = b.pool.Exec(context.Background(), "UPDATE workflows SET updated_at = now() - interval '8 minutes' WHERE id = $1", id)
	require.NoError(t, err)
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

	res, err := b.svc.Reconcile(context.Background())
	require.NoError(t, err)
	require.Equal(t, workflow.ReconcileResult{Requeued: 1}, res)
	res, err = b.svc.Reconcile(context.Background())
	require.NoError(t, err)
	require.Equal(t, workflow.ReconcileResult{}, res, "a second pass finds a live job and does nothing")

	require.NoError(t, b.client.Start(context.Background()))
	wf := b.waitDone(t, id)
	require.Equal(t, link.StateCompleted, wf.Status)
	require.Equal(t, link.StateLinked, wf.Outcome)
	require.Equal(t, 1, count(t, b.pool, "SELECT count(*) FROM workflow_events WHERE workflow_id = $1 AND reason = 'reconcile'", id))
	require.Equal(t, link.StateCompleted, b.waitDone(t, fresh).Status)
	require.Zero(t, count(t, b.pool, "SELECT count(*) FROM workflow_events WHERE workflow_id = $1 AND reason = 'reconcile'", fresh))
}

// An outcome whose event's delivery job was lost gets a delivery, not a
// second processing.
func TestReconcileRequeuesDelivery(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	require.NoError(t, b.client.Stop(context.Background()))
	id := b.submit(t, link.RequestLink, uuid.New(), "Nobody Atall", "1901-01-01")
	// Record the outcome and its event as a worker would have, then lose
	// every job.
	ctx := context.Background()
	wf, err := b.store.Workflow(ctx, id)
	require.NoError(t, err)
	wf, err = b.store.Transition(ctx, wf, postgres.Transition{To: link.StateInProgress})
	require.NoError(t, err)
	require.NoError(t, b.store.WithTx(ctx, func(tx pgx.Tx) error {
		wf, err = b.store.TransitionTx(ctx, tx, wf, postgres.Transition{To: link.StateNoResults, Outcome: link.StateNoResults})
		if err != nil {
			return err
		}
		_, err = b.store.CreateEventTx(ctx, tx, postgres.NewEvent{ID: "msg_lost", Type: workflow.EventLinkCompleted, Workflow: wf, Data: map[string]any{"status": "COMPLETED"}})
		return err
	}))
	b.loseWork(t, id)
	_, err = b.pool.Exec(ctx, "UPDATE events SET next_attempt_at = now() - interval '8 minutes' WHERE id = 'msg_lost'")
	require.NoError(t, err)

	res, err := b.svc.Reconcile(ctx)
	require.NoError(t, err)
	require.Equal(t, workflow.ReconcileResult{Redelivered: 1}, res)
	require.Equal(t, 1, count(t, b.pool, "SELECT count(*) FROM river_job WHERE kind = 'webhook.deliver' AND args->>'event_id' = 'msg_lost'"))
	require.Zero(t, count(t, b.pool, "SELECT count(*) FROM river_job WHERE kind = 'link.process' AND args->>'workflow_id' = $1", id))
	res, err = b.svc.Reconcile(ctx)
	require.NoError(t, err)
	require.Equal(t, workflow.ReconcileResult{}, res, "a live job is left alone")

	require.NoError(t, b.client.Start(ctx))
	require.Equal(t, link.StateCompleted, b.waitDone(t, id).Status)
	require.Len(t, b.sink.Events(), 1)
	require.Equal(t, "msg_lost", b.sink.Events()[0].ID)
}

// Must show: a workflow that fails every time goes FAILED after the limit,
// with the attempts in its history.
func TestReconcileLimit(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	require.NoError(t, b.client.Stop(context.Background()))
	id := b.submit(t, link.RequestLink, uuid.New(), "Always Lost", "1970-01-01")
	for range 5 {
		b.loseWork(t, id)
		res, err := b.svc.Reconcile(context.Background())
		require.NoError(t, err)
		require.Equal(t, workflow.ReconcileResult{Requeued: 1}, res)
	}
	b.loseWork(t, id)
	res, err := b.svc.Reconcile(context.Background())
	require.NoError(t, err)
	require.Equal(t, workflow.ReconcileResult{Failed: 1}, res)

	wf, err := b.store.Workflow(context.Background(), id)
	require.NoError(t, err)
	require.Equal(t, link.StateFailed, wf.Status)
	require.Equal(t, string(link.ReasonReconcileLimit), wf.Reason)
	require.Equal(t, 5, count(t, b.pool, "SELECT count(*) FROM workflow_events WHERE workflow_id = $1 AND reason = 'reconcile'", id))
	require.Equal(t, 1, count(t, b.pool, "SELECT count(*) FROM workflow_events WHERE workflow_id = $1 AND to_status = 'FAILED' AND reason = 'reconcile_limit'", id))

	// The operator's retry starts a new attempt with a fresh count.
	wf, err = b.svc.Retry(context.Background(), id, "operator:test", "")
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
	wf, err := b.svc.Stop(context.Background(), id, "operator:test", "customer asked")
	require.NoError(t, err)
	require.Equal(t, link.StateFailed, wf.Status)
	require.Equal(t, "operator_stop: customer asked", wf.Reason)
	require.Equal(t, 1, count(t, b.pool, "SELECT count(*) FROM river_job WHERE args->>'workflow_id' = $1 AND state = 'cancelled'", id))

	_, err = b.svc.Stop(context.Background(), id, "operator:test", "again")
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

	// Payloads: only those of workflows that ended before the retention
	// (FAILED here: RECEIVED → FAILED is a transition the database allows).
	old := b.submit(t, link.RequestLink, uuid.New(), "Old Done", "1970-01-01")
	recent := b.submit(t, link.RequestLink, uuid.New(), "Recent Done", "1970-01-01")
	pending := b.submit(t, link.RequestLink, uuid.New(), "Still Pending", "1970-01-01")
	_, err = b.pool.Exec(ctx, "UPDATE workflows SET status = 'FAILED', reason = 'index_rejected', ended_at = now() - interval '31 days' WHERE id = $1", old)
	require.NoError(t, err)
	_, err = b.pool.Exec(ctx, "UPDATE workflows SET status = 'FAILED', reason = 'index_rejected', ended_at = now() - interval '1 day' WHERE id = $1", recent)
	require.NoError(t, err)
	n, err := b.svc.PurgePayloads(ctx)
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
	rep, err := b.svc.ReportStuck(context.Background())
	require.NoError(t, err)
	require.Equal(t, 2, rep.PendingTotal)
	require.Equal(t, map[string]map[string]int{"RECEIVED": {"<7m": 1, "1h-24h": 1}}, rep.ByStateAge)
	require.Equal(t, old.String(), rep.Oldest[0].WorkflowID)
	require.GreaterOrEqual(t, rep.Oldest[0].AgeSeconds, int64(7200))
	require.Equal(t, 1, count(t, b.pool, "SELECT count(*) FROM reconciliation_reports"))
}
