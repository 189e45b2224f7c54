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
