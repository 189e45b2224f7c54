-- name: RequestPayloadGet :one
SELECT * FROM request_payloads WHERE workflow_id = @workflow_id;

-- name: RequestPayloadPurge :execrows
-- One bounded batch of payloads of workflows that ended before the cutoff,
-- or whose outcome was recorded before it (processing is done; only the
-- event's delivery may still be going on, or have failed).
DELETE FROM request_payloads
WHERE workflow_id IN (
    SELECT p.workflow_id FROM request_payloads AS p
    JOIN workflows AS w ON w.id = p.workflow_id
    WHERE (w.status IN ('COMPLETED', 'FAILED') AND w.ended_at < now() - make_interval(secs => @older_than_seconds::float8))
       OR (w.status IN ('LINKED', 'NO_RESULTS', 'AMBIGUOUS', 'CONFLICT', 'DE_LINKED')
           AND w.updated_at < now() - make_interval(secs => @older_than_seconds::float8))
    LIMIT @batch_size
    FOR UPDATE OF p SKIP LOCKED
);
