-- Keys are claimed by WorkflowCreateClaimingKey (queries/workflows.sql), in
-- the statement that writes the workflow.

-- name: IdempotencyKeyGet :one
SELECT * FROM idempotency_keys
WHERE customer_id = @customer_id AND key = @key AND expires_at > now();
