-- Webhook delivery: each attempt logged, the notification's state kept on
-- the workflow (so the status API is one row read), and a second customer
-- secret while a rotation overlaps.

ALTER TABLE customers
    ADD COLUMN webhook_secret_previous   text,
    ADD COLUMN webhook_previous_until    timestamptz;

ALTER TABLE workflows
    ADD COLUMN notify_status     text CHECK (notify_status IN ('pending', 'delivered', 'failed')),
    ADD COLUMN notify_attempts   integer NOT NULL DEFAULT 0,
    ADD COLUMN notify_last_at    timestamptz,
    ADD COLUMN notify_last_error text;

-- One row per delivery attempt. Append-only, like the other history.
CREATE TABLE webhook_deliveries (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workflow_id  uuid NOT NULL REFERENCES workflows (id),
    customer_id  uuid NOT NULL,
    event_id     text NOT NULL,
    attempt      integer NOT NULL,
    attempted_at timestamptz NOT NULL DEFAULT now(),
    target_host  text NOT NULL, -- the host only: paths and queries may carry customer tokens
    status_code  integer,       -- NULL when no HTTP answer came
    error        text,
    latency_ms   integer NOT NULL,
    delivered    boolean NOT NULL
);
CREATE INDEX webhook_deliveries_workflow ON webhook_deliveries (workflow_id, id);

CREATE TRIGGER webhook_deliveries_append_only
    BEFORE UPDATE OR DELETE ON webhook_deliveries
    FOR EACH ROW EXECUTE FUNCTION reject_history_change();
CREATE TRIGGER webhook_deliveries_no_truncate
    BEFORE TRUNCATE ON webhook_deliveries
    FOR EACH STATEMENT EXECUTE FUNCTION reject_history_change();
