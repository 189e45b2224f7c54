-- name: RequestPayloadGet :one
SELECT * FROM request_payloads WHERE workflow_id = @workflow_id;
