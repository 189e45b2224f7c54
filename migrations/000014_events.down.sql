-- Back to notifications folded into workflows: each workflow keeps the
-- delivery state of its latest event.
DROP VIEW audit.actions;
DROP VIEW audit.events;

DROP INDEX workflows_one_open_per_patient;
CREATE UNIQUE INDEX workflows_one_open_per_patient
    ON workflows (customer_id, patient_id) WHERE status NOT IN ('COMPLETED', 'FAILED');

DROP INDEX workflows_processing_updated;
CREATE INDEX workflows_pending_updated ON workflows (updated_at) WHERE status NOT IN ('COMPLETED', 'FAILED');

ALTER TABLE workflows
    ADD COLUMN notify_status     text CHECK (notify_status IN ('pending', 'delivered', 'failed')),
    ADD COLUMN notify_attempts   integer NOT NULL DEFAULT 0,
    ADD COLUMN notify_last_at    timestamptz,
    ADD COLUMN notify_last_error text;

UPDATE workflows AS w
SET notify_status     = CASE WHEN e.delivery_status = 'none' THEN NULL ELSE e.delivery_status END,
    notify_attempts   = e.attempts,
    notify_last_at    = e.last_attempt_at,
    notify_last_error = e.last_error
FROM (SELECT DISTINCT ON (workflow_id) * FROM events ORDER BY workflow_id, sequence DESC) AS e
WHERE e.workflow_id = w.id;

UPDATE customers SET webhook_url = '' WHERE webhook_url IS NULL;
ALTER TABLE customers ALTER COLUMN webhook_url SET NOT NULL;

ALTER TABLE workflow_events DROP COLUMN actor;

DROP TABLE action_history;
DROP TABLE events;
DROP TABLE patient_event_sequences;
