-- Notifications as first-class events. What the customer must learn is one
-- row, inserted in the transaction that made it happen, with its body frozen
-- as bytes: every attempt and every redelivery sends exactly those bytes
-- under that id. Delivery state lives with the event, not with the workflow
-- or a River job, and operators' actions are history of their own.

-- A patient's events are numbered 1, 2, 3 … (per customer): receivers order
-- them by data.sequence and drop stale ones. The row is locked until the
-- event's transaction commits, so numbers follow commit order.
CREATE TABLE patient_event_sequences (
    customer_id uuid NOT NULL,
    patient_id  uuid NOT NULL,
    last        bigint NOT NULL CHECK (last >= 1),
    PRIMARY KEY (customer_id, patient_id)
);

CREATE TABLE events (
    id               text PRIMARY KEY CHECK (id LIKE 'msg\_%'), -- the Standard Webhooks webhook-id
    feed_id          bigint NOT NULL GENERATED ALWAYS AS IDENTITY UNIQUE,
    -- The inserting transaction: the feed lists an event only once every
    -- transaction that might still add an earlier one has ended, so a
    -- cursor never skips a late commit.
    tx               bigint NOT NULL DEFAULT (pg_current_xact_id()::text::bigint),
    type             text NOT NULL,
    customer_id      uuid NOT NULL REFERENCES customers (id),
    workflow_id      uuid NOT NULL REFERENCES workflows (id),
    patient_id       uuid NOT NULL,
    sequence         bigint NOT NULL CHECK (sequence >= 1),
    created_at       timestamptz NOT NULL DEFAULT now(),
    body             bytea NOT NULL, -- frozen: ids and states only, never demographics
    -- Delivery: none (the customer has no webhook URL; the feed has it),
    -- pending, delivered, or failed (every attempt of the schedule failed).
    delivery_status  text NOT NULL CHECK (delivery_status IN ('none', 'pending', 'delivered', 'failed')),
    attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at  timestamptz, -- the earliest a delivery job may try again
    last_attempt_at  timestamptz,
    last_status_code integer,
    last_error       text,
    delivered_at     timestamptz,
    UNIQUE (customer_id, patient_id, sequence)
);
CREATE INDEX events_feed ON events (customer_id, tx, feed_id);
CREATE INDEX events_workflow ON events (workflow_id, sequence);
CREATE INDEX events_pending ON events (next_attempt_at) WHERE delivery_status = 'pending';

-- Who did what to which workflow, event or customer, and why: stop, retry,
-- redeliver, set-webhook. Append-only, like the other history.
CREATE TABLE action_history (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    created_at  timestamptz NOT NULL DEFAULT now(),
    actor       text NOT NULL CHECK (char_length(actor) BETWEEN 1 AND 200),
    action      text NOT NULL,
    customer_id uuid,
    workflow_id uuid,
    event_id    text,
    reason      text,
    detail      jsonb
);
CREATE INDEX action_history_workflow ON action_history (workflow_id) WHERE workflow_id IS NOT NULL;
CREATE TRIGGER action_history_append_only
    BEFORE UPDATE OR DELETE ON action_history
    FOR EACH ROW EXECUTE FUNCTION reject_history_change();
CREATE TRIGGER action_history_no_truncate
    BEFORE TRUNCATE ON action_history
    FOR EACH STATEMENT EXECUTE FUNCTION reject_history_change();

-- Who moved a workflow, when a person did.
ALTER TABLE workflow_events ADD COLUMN actor text;

-- A customer may use only the feed and the status API.
ALTER TABLE customers ALTER COLUMN webhook_url DROP NOT NULL;

-- Existing notifications become events, with the ids receivers have seen
-- (msg_<workflow>_<attempt>) and bodies as the service sent them.
INSERT INTO events (id, type, customer_id, workflow_id, patient_id, sequence, created_at, body,
                    delivery_status, attempts, next_attempt_at, last_attempt_at, last_error, delivered_at)
SELECT 'msg_' || replace(w.id::text, '-', '') || '_' || w.attempt,
       CASE w.request_type WHEN 'DELINK' THEN 'delink.completed' ELSE 'link.completed' END,
       w.customer_id, w.id, w.patient_id,
       row_number() OVER (PARTITION BY w.customer_id, w.patient_id ORDER BY w.updated_at, w.id),
       w.updated_at,
       convert_to(jsonb_build_object(
           'id', 'msg_' || replace(w.id::text, '-', '') || '_' || w.attempt,
           'type', CASE w.request_type WHEN 'DELINK' THEN 'delink.completed' ELSE 'link.completed' END,
           'timestamp', to_char(w.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
           'data', jsonb_build_object(
               'workflow-id', w.id, 'patient-id', w.patient_id, 'request-type', w.request_type,
               'outcome', w.outcome,
               'status', CASE WHEN w.outcome IS NOT NULL THEN 'COMPLETED' ELSE w.status END,
               'sequence', row_number() OVER (PARTITION BY w.customer_id, w.patient_id ORDER BY w.updated_at, w.id))
       )::text, 'UTF8'),
       w.notify_status, w.notify_attempts,
       CASE WHEN w.notify_status = 'pending' THEN now() END,
       w.notify_last_at, w.notify_last_error,
       CASE WHEN w.notify_status = 'delivered' THEN w.notify_last_at END
FROM workflows AS w
WHERE w.notify_status IS NOT NULL;

INSERT INTO patient_event_sequences (customer_id, patient_id, last)
SELECT customer_id, patient_id, max(sequence) FROM events GROUP BY customer_id, patient_id;

-- A link that stood but could not be told is no longer FAILED: it keeps its
-- outcome, and its event says the delivery failed.
INSERT INTO workflow_events (workflow_id, customer_id, request_type, from_status, to_status, reason, attempt)
SELECT w.id, w.customer_id, w.request_type, w.status, w.outcome, 'migration_notification_failed', w.attempt
FROM workflows AS w
WHERE w.status = 'FAILED' AND w.reason = 'webhook_undeliverable' AND w.outcome IS NOT NULL;
UPDATE workflows SET status = outcome, reason = NULL, ended_at = NULL, updated_at = now()
WHERE status = 'FAILED' AND reason = 'webhook_undeliverable' AND outcome IS NOT NULL;

-- Pending River deliveries keep working: their args name the same event.
ALTER TABLE workflows
    DROP COLUMN notify_status,
    DROP COLUMN notify_attempts,
    DROP COLUMN notify_last_at,
    DROP COLUMN notify_last_error;

-- A patient is busy only while a workflow is being processed: once the
-- outcome is recorded a new request is accepted, even while its event is
-- still being delivered.
DROP INDEX workflows_one_open_per_patient;
CREATE UNIQUE INDEX workflows_one_open_per_patient
    ON workflows (customer_id, patient_id) WHERE status IN ('RECEIVED', 'IN_PROGRESS', 'REQUESTED');

-- Reconciliation looks for stale workflows being processed.
DROP INDEX workflows_pending_updated;
CREATE INDEX workflows_processing_updated ON workflows (updated_at)
    WHERE status IN ('RECEIVED', 'IN_PROGRESS', 'REQUESTED');

-- Auditors: events (ids, types, sequences, delivery state; the body holds
-- ids and states only) and the actions people took.
CREATE VIEW audit.events AS
SELECT e.id, e.created_at, e.type, e.customer_id, e.workflow_id, e.patient_id AS customer_patient_id,
       e.sequence, e.delivery_status, e.attempts, e.last_attempt_at, e.last_status_code, e.delivered_at
FROM public.events AS e;

CREATE VIEW audit.actions AS
SELECT a.id, a.created_at, a.actor, a.action, a.customer_id, a.workflow_id, a.event_id, a.reason, a.detail
FROM public.action_history AS a;

GRANT SELECT ON audit.events, audit.actions TO patientlink_auditor;
