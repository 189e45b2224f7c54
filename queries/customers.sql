-- name: CustomerInsert :one
INSERT INTO customers (id, name, webhook_url, webhook_secret)
VALUES (@id, @name, @webhook_url, @webhook_secret)
RETURNING *;

-- name: CustomerGetByID :one
SELECT * FROM customers WHERE id = @id;

-- name: CustomerSetStatus :one
UPDATE customers SET status = @status, updated_at = now() WHERE id = @id RETURNING *;

-- name: CustomerRotateSecret :one
-- The new secret signs from now on; the old one is also sent until
-- previous_until, so receivers can switch without missing a delivery.
UPDATE customers
SET webhook_secret_previous = webhook_secret,
    webhook_previous_until  = @previous_until,
    webhook_secret          = @webhook_secret,
    updated_at              = now()
WHERE id = @id
RETURNING *;

-- name: CustomerSetWebhook :one
-- A new webhook URL, or none (NULL): the customer then reads the feed.
UPDATE customers SET webhook_url = sqlc.narg(webhook_url), updated_at = now() WHERE id = @id RETURNING *;
