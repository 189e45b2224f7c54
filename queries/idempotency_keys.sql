-- Keys are claimed by WorkflowCreateClaimingKey (queries/workflows.sql), in
-- the statement that writes the workflow.

-- name: IdempotencyKeyGet :one
SELECT * FROM idempotency_keys
WHERE customer_id = @customer_id AND key = @key AND expires_at > now();

-- name: IdempotencyKeyPurge :execrows
-- One bounded batch of expired keys: short transactions, short locks.
DELETE FROM idempotency_keys
WHERE (customer_id, key) IN (
    SELECT k.customer_id, k.key FROM idempotency_keys AS k
    WHERE k.expires_at < now()
    LIMIT @batch_size
    FOR UPDATE SKIP LOCKED
);

-- name: IdempotencyKeyClaim :one
-- Claims (customer, key) for a bulk request, whose answer is known only at
-- the end of its transaction (IdempotencyKeySetResponse). A live key row
-- held by another transaction makes this wait for it; an expired one is
-- taken over. claimed = 0: the key is taken.
WITH k AS (
    INSERT INTO idempotency_keys AS ik (customer_id, key, request_hash, response_status, response_body, expires_at)
    VALUES (@customer_id, @key, @request_hash, 0, '', now() + make_interval(secs => @ttl_seconds::float8))
    ON CONFLICT (customer_id, key) DO UPDATE
        SET request_hash = EXCLUDED.request_hash,
            response_status = EXCLUDED.response_status,
            response_body = EXCLUDED.response_body,
            workflow_id = NULL,
            created_at = now(),
            expires_at = EXCLUDED.expires_at
        WHERE ik.expires_at <= now()
    RETURNING 1
)
SELECT count(*)::int AS claimed FROM k;

-- name: IdempotencyKeySetResponse :exec
UPDATE idempotency_keys SET response_status = @response_status, response_body = @response_body
WHERE customer_id = @customer_id AND key = @key;
