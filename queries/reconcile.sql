-- name: WorkflowListStuck :many
-- Pending workflows with no progress for older_than_seconds and no live
-- River job: lost work. Rows are locked, and rows another reconciler holds
-- are skipped, so concurrent passes split the work instead of doubling it.
SELECT w.* FROM workflows AS w
WHERE w.status NOT IN ('COMPLETED', 'FAILED')
  AND w.updated_at < now() - make_interval(secs => @older_than_seconds::float8)
  AND NOT EXISTS (
      SELECT 1 FROM river_job AS j
      WHERE j.args @> jsonb_build_object('workflow_id', w.id::text)
        AND j.state IN ('available', 'pending', 'running', 'retryable', 'scheduled')
  )
ORDER BY w.updated_at
LIMIT @max_rows
FOR UPDATE OF w SKIP LOCKED;

-- name: WorkflowReconcileMark :one
-- Counts a reconcile attempt and records it in the history.
WITH w AS (
    UPDATE workflows AS wf
    SET reconcile_count = wf.reconcile_count + 1, updated_at = now()
    WHERE wf.id = @id
    RETURNING wf.*
), e AS (
    INSERT INTO workflow_events (workflow_id, customer_id, request_type, from_status, to_status, reason, attempt)
    SELECT w.id, w.customer_id, w.request_type, w.status, w.status, 'reconcile', w.reconcile_count FROM w
)
SELECT w.reconcile_count FROM w;

-- name: WorkflowReconcileReset :exec
UPDATE workflows SET reconcile_count = 0 WHERE id = @id;

-- name: IdempotencyKeyPurge :execrows
-- One bounded batch of expired keys: short transactions, short locks.
DELETE FROM idempotency_keys
WHERE (customer_id, key) IN (
    SELECT k.customer_id, k.key FROM idempotency_keys AS k
    WHERE k.expires_at < now()
    LIMIT @batch_size
    FOR UPDATE SKIP LOCKED
);

-- name: RequestPayloadPurge :execrows
-- One bounded batch of payloads of workflows that ended before the cutoff.
DELETE FROM request_payloads
WHERE workflow_id IN (
    SELECT p.workflow_id FROM request_payloads AS p
    JOIN workflows AS w ON w.id = p.workflow_id
    WHERE w.status IN ('COMPLETED', 'FAILED') AND w.ended_at < now() - make_interval(secs => @older_than_seconds::float8)
    LIMIT @batch_size
    FOR UPDATE OF p SKIP LOCKED
);

-- name: RiverJobIDsLiveForWorkflow :many
SELECT j.id FROM river_job AS j
WHERE j.args @> jsonb_build_object('workflow_id', @workflow_id::text)
  AND j.state IN ('available', 'pending', 'running', 'retryable', 'scheduled');
