-- name: BatchCreate :exec
INSERT INTO batches (id, customer_id, items) VALUES (@id, @customer_id, @items);

-- name: BatchGet :one
SELECT * FROM batches WHERE id = @id AND customer_id = @customer_id;

-- name: BatchCounts :many
-- GET /batches/{id}: its workflows by status and outcome.
SELECT status, outcome, count(*)::int AS n
FROM workflows WHERE batch_id = @batch_id::uuid
GROUP BY status, outcome ORDER BY status, outcome;

-- name: BatchPending :many
SELECT id FROM workflows
WHERE batch_id = @batch_id::uuid AND status NOT IN ('COMPLETED', 'FAILED')
ORDER BY id;
