package bench

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/patientlink/patientlink/internal/pgtest"
)

func TestCancelBacklog(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _ := pgtest.Pool(t)
	exec := func(sql string, args ...any) {
		t.Helper()
		_, err := pool.Exec(ctx, sql, args...)
		require.NoError(t, err)
	}
	customer := uuid.New()
	exec(`INSERT INTO customers (id, name, webhook_url, webhook_secret) VALUES ($1, 'bench', 'http://127.0.0.1:9/hook', 'sealed:test')`, customer)
	wf := map[string]uuid.UUID{}
	for _, status := range []string{"RECEIVED", "IN_PROGRESS", "LINKED", "COMPLETED"} {
		wf[status] = uuid.New()
		exec(`INSERT INTO workflows (id, customer_id, patient_id, request_type, status) VALUES ($1, $2, $3, 'LINK', $4)`,
			wf[status], customer, uuid.New(), status)
	}
	for _, j := range []struct{ queue, state string }{
		{"link", "available"}, {"link", "running"}, {"webhook", "available"}, {"webhook", "scheduled"},
		{"link", "completed"}, {"pgbench_ack", "available"},
	} {
		exec(`INSERT INTO river_job (args, kind, max_attempts, queue, state, finalized_at)
			VALUES ('{}', 'test', 25, $1, $2::river_job_state, CASE WHEN $2::text = 'completed' THEN now() END)`, j.queue, j.state)
	}
	n, err := queuedJobs(ctx, pool)
	require.NoError(t, err)
	require.Equal(t, 3, n, "available and scheduled jobs of the link and webhook queues")

	got, err := cancelBacklog(ctx, pool)
	require.NoError(t, err)
	require.Equal(t, backlogCancelled{Jobs: 4, Workflows: 2}, got)

	n, err = queuedJobs(ctx, pool)
	require.NoError(t, err)
	require.Zero(t, n)
	var otherQueue string
	require.NoError(t, pool.QueryRow(ctx, `SELECT state FROM river_job WHERE queue = 'pgbench_ack'`).Scan(&otherQueue))
	require.Equal(t, "available", otherQueue, "other queues are not the benchmark's backlog")
	for status, want := range map[string]string{"RECEIVED": "FAILED", "IN_PROGRESS": "FAILED", "LINKED": "LINKED", "COMPLETED": "COMPLETED"} {
		var now string
		require.NoError(t, pool.QueryRow(ctx, `SELECT status FROM workflows WHERE id = $1`, wf[status]).Scan(&now))
		require.Equal(t, want, now, status)
	}
	var events int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM workflow_events
		WHERE to_status = 'FAILED' AND reason = 'operator_stop' AND actor = 'linkbench' AND workflow_id = ANY($1::uuid[])
		  AND from_status IN ('RECEIVED', 'IN_PROGRESS')`, []uuid.UUID{wf["RECEIVED"], wf["IN_PROGRESS"]}).Scan(&events))
	require.Equal(t, 2, events, "each failed workflow has its history event")
}
