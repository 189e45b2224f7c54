-- name: WebhookDeliveryRecord :one
-- Logs one attempt and updates the workflow's notification summary.
WITH d AS (
    INSERT INTO webhook_deliveries (workflow_id, customer_id, event_id, attempt, target_host, status_code, error, latency_ms, delivered)
    VALUES (@workflow_id, @customer_id, @event_id, @attempt, @target_host, sqlc.narg(status_code), sqlc.narg(error), @latency_ms, @delivered)
    RETURNING id
)
UPDATE workflows AS wf
SET notify_status     = @notify_status,
    notify_attempts   = @attempt,
    notify_last_at    = now(),
    notify_last_error = sqlc.narg(error)
FROM d
WHERE wf.id = @workflow_id
RETURNING d.id;

-- name: WebhookNotifyReset :exec
-- A fresh notification (a new outcome, or an operator's redelivery).
UPDATE workflows SET notify_status = 'pending', notify_attempts = 0, notify_last_error = NULL WHERE id = @id;
