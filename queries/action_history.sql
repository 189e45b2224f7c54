-- name: ActionRecord :exec
-- Appends what a person (an operator, or a customer through the API) did.
INSERT INTO action_history (actor, action, customer_id, workflow_id, event_id, reason, detail)
VALUES (@actor, @action, sqlc.narg(customer_id), sqlc.narg(workflow_id), sqlc.narg(event_id), sqlc.narg(reason), sqlc.narg(detail));
