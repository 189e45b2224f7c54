-- name: IdempotencyKeyClaim :one
-- Claims (customer, key) for this request. A live row held by another
-- transaction makes this wait for it; an expired one is taken over. No row
-- back means the key is taken: read it with IdempotencyKeyGet.
INSERT INTO idempotency_keys AS k (customer_id, key, request_hash, response_status, response_body, workflow_id, expires_at)
VALUES (@customer_id, @key, @request_hash, @response_status, @response_body, @workflow_id, now() + make_interval(secs => @ttl_seconds::float8))
ON CONFLICT (customer_id, key) DO UPDATE
    SET request_hash = EXCLUDED.request_hash,
        response_status = EXCLUDED.response_status,
        response_body = EXCLUDED.response_body,
        workflow_id = EXCLUDED.workflow_id,
        created_at = now(),
        expires_at = EXCLUDED.expires_at
    WHERE k.expires_at <= now()
RETURNING k.created_at;

-- name: IdempotencyKeyGet :one
SELECT * FROM idempotency_keys
WHERE customer_id = @customer_id AND key = @key AND expires_at > now();
