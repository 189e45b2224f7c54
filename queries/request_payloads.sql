-- name: RequestPayloadGet :one
SELECT * FROM request_payloads WHERE workflow_id = @workflow_id;

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
