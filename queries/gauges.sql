-- name: WorkflowCountPendingByStatus :many
SELECT w.status, count(*)::int AS n FROM workflows AS w
WHERE w.status NOT IN ('COMPLETED', 'FAILED')
GROUP BY w.status;

-- name: RiverJobCountByQueueState :many
SELECT j.queue, j.state::text AS state, count(*)::int AS n FROM river_job AS j
WHERE j.state IN ('available', 'running', 'retryable', 'scheduled')
GROUP BY j.queue, j.state;
