-- name: RiverJobCountByQueueState :many
SELECT j.queue, j.state::text AS state, count(*)::int AS n FROM river_job AS j
WHERE j.state IN ('available', 'running', 'retryable', 'scheduled')
GROUP BY j.queue, j.state;

-- name: RiverJobIDsLiveForWorkflow :many
-- A workflow's jobs of one kind that may still run.
SELECT j.id FROM river_job AS j
WHERE j.args @> jsonb_build_object('workflow_id', @workflow_id::text)
  AND j.kind = @kind
  AND j.state IN ('available', 'pending', 'running', 'retryable', 'scheduled');
