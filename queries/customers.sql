-- name: CustomerInsert :one
INSERT INTO customers (id, name, webhook_url, webhook_secret)
VALUES (@id, @name, @webhook_url, @webhook_secret)
RETURNING *;

-- name: CustomerGetByID :one
SELECT * FROM customers WHERE id = @id;

-- name: CustomerSetStatus :one
UPDATE customers SET status = @status, updated_at = now() WHERE id = @id RETURNING *;
