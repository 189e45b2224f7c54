-- History that cannot be forged or bypassed (issue 15):
--
-- * a history row's time is the transaction's time (the column's default,
--   now()) and its id the sequence's: a BEFORE INSERT trigger refuses a
--   row with another time or a given id (OVERRIDING SYSTEM VALUE);
-- * history rows carry what auditors read, copied from the workflow and
--   the mapping when the row is written, so the audit views read no
--   mutable column;
-- * the state machine lives in workflow_transitions too, and a trigger on
--   workflows refuses any status change it does not list, whoever makes it
--   (psql, River UI, a bug). internal/postgres/schema_test.go keeps the
--   rows equal to Go's table (link.Transitions);
-- * the application may read schema_migrations (/readyz) but not write it;
-- * idempotency fingerprints written before this migration were plain
--   SHA-256 of the request (demographics included): they are blanked, so a
--   retry with such a key within its 24 h answers 422 instead of replaying.

-- 1. Time and id of history rows ------------------------------------------

-- history_stamp(time_column): the row's time must be now() (the
-- transaction's start, the column default) for every role but a superuser
-- (who can switch triggers off anyway; the audit fixtures insert past times
-- that way), and its id the one the identity sequence just gave this
-- session.
CREATE FUNCTION history_stamp() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    given bigint;
BEGIN
    BEGIN
        given := currval(pg_get_serial_sequence(format('%I.%I', TG_TABLE_SCHEMA, TG_TABLE_NAME), 'id'));
    EXCEPTION WHEN object_not_in_prerequisite_state THEN
        given := NULL; -- the sequence was never used in this session
    END;
    IF given IS DISTINCT FROM NEW.id THEN
        RAISE EXCEPTION 'history table %: the id is the sequence''s, not the writer''s', TG_TABLE_NAME
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF current_setting('is_superuser') <> 'on'
       AND (to_jsonb(NEW) ->> TG_ARGV[0])::timestamptz IS DISTINCT FROM now() THEN
        RAISE EXCEPTION 'history table %: % is the transaction''s time, not the writer''s', TG_TABLE_NAME, TG_ARGV[0]
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER workflow_events_stamp BEFORE INSERT ON workflow_events
    FOR EACH ROW EXECUTE FUNCTION history_stamp('created_at');
CREATE TRIGGER mapping_events_stamp BEFORE INSERT ON mapping_events
    FOR EACH ROW EXECUTE FUNCTION history_stamp('created_at');
CREATE TRIGGER webhook_deliveries_stamp BEFORE INSERT ON webhook_deliveries
    FOR EACH ROW EXECUTE FUNCTION history_stamp('attempted_at');
CREATE TRIGGER reconciliation_reports_stamp BEFORE INSERT ON reconciliation_reports
    FOR EACH ROW EXECUTE FUNCTION history_stamp('created_at');
CREATE TRIGGER decisions_stamp BEFORE INSERT ON decisions
    FOR EACH ROW EXECUTE FUNCTION history_stamp('created_at');
CREATE TRIGGER action_history_stamp BEFORE INSERT ON action_history
    FOR EACH ROW EXECUTE FUNCTION history_stamp('created_at');

-- 2. What auditors read, copied at the time of the event --------------------

ALTER TABLE workflow_events ADD COLUMN customer_patient_id uuid;
ALTER TABLE mapping_events
    ADD COLUMN score               double precision,
    ADD COLUMN link_workflow_id    uuid,
    ADD COLUMN request_received_at timestamptz;
ALTER TABLE webhook_deliveries
    ADD COLUMN customer_patient_id uuid,
    ADD COLUMN request_type        text;

-- Whatever the writer gave, these columns are copied from the rows they
-- describe. (The trigger functions are volatile: they see the workflow or
-- mapping an earlier part of the same statement wrote.)
CREATE FUNCTION workflow_events_snapshot() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    SELECT w.patient_id INTO NEW.customer_patient_id FROM public.workflows AS w WHERE w.id = NEW.workflow_id;
    RETURN NEW;
END;
$$;
CREATE TRIGGER workflow_events_snapshot BEFORE INSERT ON workflow_events
    FOR EACH ROW EXECUTE FUNCTION workflow_events_snapshot();

CREATE FUNCTION mapping_events_snapshot() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    SELECT m.score, m.workflow_id, w.created_at
    INTO NEW.score, NEW.link_workflow_id, NEW.request_received_at
    FROM public.patient_mappings AS m, public.workflows AS w
    WHERE m.id = NEW.mapping_id AND w.id = NEW.workflow_id;
    RETURN NEW;
END;
$$;
CREATE TRIGGER mapping_events_snapshot BEFORE INSERT ON mapping_events
    FOR EACH ROW EXECUTE FUNCTION mapping_events_snapshot();

CREATE FUNCTION webhook_deliveries_snapshot() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    SELECT w.patient_id, w.request_type INTO NEW.customer_patient_id, NEW.request_type
    FROM public.workflows AS w WHERE w.id = NEW.workflow_id;
    RETURN NEW;
END;
$$;
CREATE TRIGGER webhook_deliveries_snapshot BEFORE INSERT ON webhook_deliveries
    FOR EACH ROW EXECUTE FUNCTION webhook_deliveries_snapshot();

-- Rows written before this migration: filled once, by the owner, with the
-- append-only triggers briefly off inside this transaction.
ALTER TABLE workflow_events DISABLE TRIGGER workflow_events_append_only;
UPDATE workflow_events AS e SET customer_patient_id = w.patient_id FROM workflows AS w WHERE w.id = e.workflow_id;
ALTER TABLE workflow_events ENABLE TRIGGER workflow_events_append_only;
ALTER TABLE mapping_events DISABLE TRIGGER mapping_events_append_only;
UPDATE mapping_events AS e SET score = m.score, link_workflow_id = m.workflow_id, request_received_at = w.created_at
FROM patient_mappings AS m, workflows AS w WHERE m.id = e.mapping_id AND w.id = e.workflow_id;
ALTER TABLE mapping_events ENABLE TRIGGER mapping_events_append_only;
ALTER TABLE webhook_deliveries DISABLE TRIGGER webhook_deliveries_append_only;
UPDATE webhook_deliveries AS d SET customer_patient_id = w.patient_id, request_type = w.request_type
FROM workflows AS w WHERE w.id = d.workflow_id;
ALTER TABLE webhook_deliveries ENABLE TRIGGER webhook_deliveries_append_only;

-- The views now read history rows only (and reconciliation_reports, itself
-- history). CREATE OR REPLACE keeps the auditor's grants.
CREATE OR REPLACE VIEW audit.linkage_history AS
SELECT e.id,
       e.created_at,
       e.customer_id,
       e.customer_patient_id,
       e.internal_patient_id,
       e.status,
       e.mapping_id,
       e.workflow_id,
       e.request_type,
       e.request_received_at,
       e.link_workflow_id,
       e.score,
       e.link_source,
       e.actor
FROM public.mapping_events AS e;

CREATE OR REPLACE VIEW audit.workflow_timeline AS
SELECT e.id,
       e.created_at,
       e.workflow_id,
       e.customer_id,
       e.customer_patient_id,
       e.request_type,
       e.from_status,
       e.to_status,
       e.reason,
       e.attempt
FROM public.workflow_events AS e;

CREATE OR REPLACE VIEW audit.webhook_deliveries AS
SELECT d.id,
       d.attempted_at,
       d.workflow_id,
       d.customer_id,
       d.customer_patient_id,
       d.request_type,
       d.event_id,
       d.attempt,
       d.target_host,
       d.status_code,
       d.delivered,
       d.latency_ms,
       d.error
FROM public.webhook_deliveries AS d;

-- 3. The state machine, in the database -------------------------------------

-- One row per allowed status change; equal to Go's link.Transitions (a test
-- compares them). Changing Go's table means a migration changing these rows.
CREATE TABLE workflow_transitions (
    request_type text NOT NULL CHECK (request_type IN ('LINK', 'DELINK')),
    from_status  text NOT NULL,
    to_status    text NOT NULL,
    PRIMARY KEY (request_type, from_status, to_status)
);
INSERT INTO workflow_transitions (request_type, from_status, to_status) VALUES
    ('LINK', 'RECEIVED', 'IN_PROGRESS'), ('LINK', 'IN_PROGRESS', 'IN_PROGRESS'), ('LINK', 'REQUESTED', 'IN_PROGRESS'),
    ('LINK', 'IN_PROGRESS', 'REQUESTED'), ('LINK', 'REQUESTED', 'REQUESTED'),
    ('LINK', 'IN_PROGRESS', 'LINKED'), ('LINK', 'REQUESTED', 'LINKED'),
    ('LINK', 'IN_PROGRESS', 'NO_RESULTS'), ('LINK', 'REQUESTED', 'NO_RESULTS'),
    ('LINK', 'IN_PROGRESS', 'AMBIGUOUS'), ('LINK', 'REQUESTED', 'AMBIGUOUS'),
    ('LINK', 'IN_PROGRESS', 'CONFLICT'), ('LINK', 'REQUESTED', 'CONFLICT'),
    ('LINK', 'LINKED', 'COMPLETED'), ('LINK', 'NO_RESULTS', 'COMPLETED'), ('LINK', 'AMBIGUOUS', 'COMPLETED'),
    ('LINK', 'CONFLICT', 'COMPLETED'),
    ('LINK', 'RECEIVED', 'FAILED'), ('LINK', 'IN_PROGRESS', 'FAILED'), ('LINK', 'REQUESTED', 'FAILED'),
    ('LINK', 'FAILED', 'RECEIVED'),
    ('DELINK', 'RECEIVED', 'IN_PROGRESS'), ('DELINK', 'IN_PROGRESS', 'IN_PROGRESS'),
    ('DELINK', 'IN_PROGRESS', 'DE_LINKED'),
    ('DELINK', 'DE_LINKED', 'COMPLETED'),
    ('DELINK', 'RECEIVED', 'FAILED'), ('DELINK', 'IN_PROGRESS', 'FAILED'),
    ('DELINK', 'FAILED', 'RECEIVED');
-- The application reads the table; only the owner (a migration) changes it.
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON workflow_transitions FROM patientlink_app;

CREATE FUNCTION workflows_enforce_transition() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    IF NEW.request_type IS DISTINCT FROM OLD.request_type THEN
        RAISE EXCEPTION 'workflow %: the request type cannot change', OLD.id
            USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.status IS DISTINCT FROM OLD.status AND NOT EXISTS (
        SELECT 1 FROM public.workflow_transitions AS t
        WHERE t.request_type = OLD.request_type AND t.from_status = OLD.status AND t.to_status = NEW.status
    ) THEN
        RAISE EXCEPTION 'workflow %: % → % is not a transition of a % workflow', OLD.id, OLD.status, NEW.status, OLD.request_type
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER workflows_enforce_transition BEFORE UPDATE OF status, request_type ON workflows
    FOR EACH ROW EXECUTE FUNCTION workflows_enforce_transition();

-- 4. The migrations' bookkeeping is the owner's --------------------------------

REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON schema_migrations FROM patientlink_app;

-- 5. No plain hash of a request -------------------------------------------------

UPDATE idempotency_keys SET request_hash = '\x'::bytea;
