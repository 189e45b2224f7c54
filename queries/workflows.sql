-- name: WorkflowCreate :one
-- The workflow, its first history event and its sealed payload, in one
-- round trip.
WITH w AS (
    INSERT INTO workflows (id, customer_id, patient_id, request_type, status, webhook_url)
    VALUES (@id, @customer_id, @patient_id, @request_type, 'RECEIVED', @webhook_url)
    RETURNING *
), e AS (
    INSERT INTO workflow_events (workflow_id, customer_id, request_type, from_status, to_status, attempt)
    SELECT w.id, w.customer_id, w.request_type, NULL, w.status, w.attempt FROM w
), p AS (
    INSERT INTO request_payloads (workflow_id, key_id, sealed)
    SELECT w.id, @key_id, @sealed FROM w
)
SELECT w.created_at FROM w;

-- name: WorkflowGetForCustomer :one
SELECT * FROM workflows WHERE id = @id AND customer_id = @customer_id;

-- name: WorkflowGetOpenForPatient :one
SELECT * FROM workflows
WHERE customer_id = @customer_id AND patient_id = @patient_id AND status NOT IN ('COMPLETED', 'FAILED');
