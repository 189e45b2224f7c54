-- name: DecisionRecord :exec
-- Appends why an outcome was decided, in the outcome's transaction.
INSERT INTO decisions (workflow_id, customer_id, customer_patient_id, outcome, rule, policy_version, threshold, margin,
                       margin_seen, candidates, internal_patient_id, conflict_patient_id, review_id, actor, reason)
VALUES (@workflow_id, @customer_id, @customer_patient_id, @outcome, @rule, @policy_version, @threshold, @margin,
        sqlc.narg(margin_seen), @candidates, sqlc.narg(internal_patient_id), sqlc.narg(conflict_patient_id),
        sqlc.narg(review_id), sqlc.narg(actor), sqlc.narg(reason));
