-- name: RiverJobCountByQueueState :many
SELECT j.queue, j.state::text AS state, count(*)::int AS n FROM river_job AS j
WHERE j.state IN ('available', 'running', 'retryable', 'scheduled')
GROUP BY j.queue, j.state;

-- name: RiverJobIDsLiveForWorkflow :many
SELECT j.id FROM river_job AS j
WHERE j.args @> jsonb_build_object('workflow_id', @workflow_id::text)
  AND j.state IN ('available', 'pending', 'running', 'retryable', 'scheduled');
