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

-- name: CustomerPurgeExpiredSecrets :execrows
-- Forgets previous webhook secrets whose overlap ended.
UPDATE customers
SET webhook_secret_previous = NULL, webhook_previous_until = NULL, updated_at = now()
WHERE webhook_previous_until < now();

-- name: CustomerListPlainSecrets :many
-- Customers whose webhook secrets predate sealing (migration 000021).
SELECT * FROM customers
WHERE webhook_secret NOT LIKE 'sealed:%' OR webhook_secret_previous NOT LIKE 'sealed:%'
LIMIT @max_rows;

-- name: CustomerSealSecrets :exec
-- Replaces plain secrets with their sealed form, if still unchanged.
UPDATE customers
SET webhook_secret = @webhook_secret, webhook_secret_previous = sqlc.narg(webhook_secret_previous)
WHERE id = @id AND webhook_secret = @old_secret
  AND webhook_secret_previous IS NOT DISTINCT FROM sqlc.narg(old_previous);

-- name: CustomerTokenInsert :exec
INSERT INTO customer_tokens (id, customer_id, expires_at) VALUES (@id, @customer_id, @expires_at);

-- name: CustomerTokenList :many
SELECT * FROM customer_tokens WHERE customer_id = @customer_id ORDER BY issued_at, id;

-- name: CustomerTokenRevoke :one
UPDATE customer_tokens SET revoked_at = COALESCE(revoked_at, now())
WHERE customer_id = @customer_id AND id = @id
RETURNING *;

-- name: CustomerTokenActive :one
-- Whether a token id was issued to the customer and is neither revoked
-- nor expired.
SELECT EXISTS (
    SELECT 1 FROM customer_tokens AS t
    WHERE t.id = @id AND t.customer_id = @customer_id AND t.revoked_at IS NULL AND t.expires_at > now()
) AS active;
