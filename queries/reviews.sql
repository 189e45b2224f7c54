-- name: ReviewCreate :exec
-- Opens the review of an uncertain outcome; one per workflow, so a repeat
-- changes nothing.
INSERT INTO reviews (id, workflow_id, customer_id, patient_id, outcome, candidates)
VALUES (@id, @workflow_id, @customer_id, @patient_id, @outcome, @candidates)
ON CONFLICT (workflow_id) DO NOTHING;

-- name: ReviewGetByID :one
SELECT * FROM reviews WHERE id = @id;

-- name: ReviewLock :one
-- Locks a review for its resolution: two reviewers at once serialise here,
-- and the second finds it closed.
SELECT * FROM reviews WHERE id = @id FOR UPDATE;

-- name: ReviewList :many
-- Reviews of one status, oldest first, after a (created_at, id) cursor.
SELECT * FROM reviews
WHERE status = @status AND (created_at, id) > (@after_created_at::timestamptz, @after_id::uuid)
ORDER BY created_at, id
LIMIT @max_rows;

-- name: ReviewResolve :one
UPDATE reviews
SET status = 'resolved', closed_at = now(), decision = @decision,
    internal_patient_id = sqlc.narg(internal_patient_id), actor = @actor, reason = @reason
WHERE id = @id AND status = 'open'
RETURNING *;

-- name: ReviewCountOpenByAge :many
SELECT CASE WHEN r.created_at > now() - interval '1 hour' THEN '<1h'
            WHEN r.created_at > now() - interval '24 hours' THEN '1h-24h'
            ELSE '>24h' END::text AS age,
       count(*)::int AS n
FROM reviews AS r
WHERE r.status = 'open'
GROUP BY 1;
