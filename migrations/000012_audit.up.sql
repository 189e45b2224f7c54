-- Auditing: the reconciliation reports' history, a read-only `audit` schema
-- for auditors, and the two group roles production logins join.
--
-- Auditors (role patientlink_auditor) see the history through the views
-- and the function of schema audit only: ids, states, times, reasons,
-- hosts and status codes, never patient demographics (those live only
-- sealed in request_payloads). The views read the base tables with their
-- owner's rights; the auditor has no right on any table of schema public.
--
-- Roles belong to the cluster, migrations to one database: the roles are
-- created here when missing and never dropped by the down migration (other
-- databases may still use them). sql/roles.sql says how an operator
-- creates the login roles that join them.

-- What the reconciliation job found pending, one row per run. Append-only,
-- like the other history.
CREATE TABLE reconciliation_reports (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    created_at    timestamptz NOT NULL DEFAULT now(),
    pending_total integer NOT NULL CHECK (pending_total >= 0),
    -- per state, per age bucket: {"RECEIVED": {"<7m": 3, "7m-1h": 1, "1h-24h": 0, ">24h": 0}, ...}
    by_state_age  jsonb NOT NULL CHECK (jsonb_typeof(by_state_age) = 'object'),
    -- the oldest pending workflows: [{"workflow_id": "...", "status": "...", "age_seconds": 123}, ...]
    oldest        jsonb NOT NULL CHECK (jsonb_typeof(oldest) = 'array')
);
CREATE INDEX reconciliation_reports_created ON reconciliation_reports (created_at);

CREATE TRIGGER reconciliation_reports_append_only
    BEFORE UPDATE OR DELETE ON reconciliation_reports
    FOR EACH ROW EXECUTE FUNCTION reject_history_change();
CREATE TRIGGER reconciliation_reports_no_truncate
    BEFORE TRUNCATE ON reconciliation_reports
    FOR EACH STATEMENT EXECUTE FUNCTION reject_history_change();

-- The group roles. NOLOGIN: people and the service log in as roles of
-- their own that are members (sql/roles.sql). The exception handler covers
-- a migration of another database creating the same role at this moment.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'patientlink_app') THEN
        CREATE ROLE patientlink_app NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END $$;

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'patientlink_auditor') THEN
        CREATE ROLE patientlink_auditor NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END $$;

CREATE SCHEMA audit;
REVOKE ALL ON SCHEMA audit FROM PUBLIC;

COMMENT ON SCHEMA audit IS
    'Read-only history for auditors (role patientlink_auditor): ids, states, times, reasons; no patient demographics.';

-- Every mapping change, oldest first by id: the LINKED that made a
-- mapping and the DE-LINKED that undid it. workflow_id is the request that
-- made this change (a LINK or a DELINK workflow); link_workflow_id the LINK
-- workflow that made the mapping.
CREATE VIEW audit.linkage_history AS
SELECT e.id,
       e.created_at,
       e.customer_id,
       e.customer_patient_id,
       e.internal_patient_id,
       e.status,
       e.mapping_id,
       e.workflow_id,
       e.request_type,
       w.created_at AS request_received_at,
       m.workflow_id AS link_workflow_id,
       m.score
FROM public.mapping_events AS e
JOIN public.workflows AS w ON w.id = e.workflow_id
JOIN public.patient_mappings AS m ON m.id = e.mapping_id;

-- Every transition of every workflow; from_status is NULL on the first
-- event (the acknowledgement, RECEIVED).
CREATE VIEW audit.workflow_timeline AS
SELECT e.id,
       e.created_at,
       e.workflow_id,
       e.customer_id,
       w.patient_id AS customer_patient_id,
       e.request_type,
       e.from_status,
       e.to_status,
       e.reason,
       e.attempt
FROM public.workflow_events AS e
JOIN public.workflows AS w ON w.id = e.workflow_id;

-- Every webhook delivery attempt. event_id is the webhook-id the customer
-- received; target_host is the host only (paths may carry tokens).
CREATE VIEW audit.webhook_deliveries AS
SELECT d.id,
       d.attempted_at,
       d.workflow_id,
       d.customer_id,
       w.patient_id AS customer_patient_id,
       w.request_type,
       d.event_id,
       d.attempt,
       d.target_host,
       d.status_code,
       d.delivered,
       d.latency_ms,
       d.error
FROM public.webhook_deliveries AS d
JOIN public.workflows AS w ON w.id = d.workflow_id;

CREATE VIEW audit.reconciliation_reports AS
SELECT r.id,
       r.created_at,
       r.pending_total,
       r.by_state_age,
       r.oldest
FROM public.reconciliation_reports AS r;

-- The mappings as they stood at as_of, rebuilt from mapping_events alone:
-- each mapping's latest event at or before as_of. A mapping made later is
-- absent. workflow_id made that latest change; status_since is its time.
-- SECURITY DEFINER: it reads mapping_events with its owner's rights, so the
-- auditor needs EXECUTE only. Every name is schema-qualified and pg_temp is
-- searched last, so a caller's objects cannot stand in for ours.
CREATE FUNCTION audit.mapping_as_of(as_of timestamptz)
RETURNS TABLE (
    mapping_id          bigint,
    customer_id         uuid,
    customer_patient_id uuid,
    internal_patient_id text,
    status              text,
    status_since        timestamptz,
    workflow_id         uuid,
    link_workflow_id    uuid
)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
    SELECT DISTINCT ON (e.mapping_id)
           e.mapping_id,
           e.customer_id,
           e.customer_patient_id,
           e.internal_patient_id,
           e.status,
           e.created_at,
           e.workflow_id,
           (SELECT f.workflow_id FROM public.mapping_events AS f
            WHERE f.mapping_id = e.mapping_id AND f.status = 'LINKED'
            ORDER BY f.id LIMIT 1)
    FROM public.mapping_events AS e
    WHERE e.created_at <= as_of
    ORDER BY e.mapping_id, e.id DESC
$$;
REVOKE ALL ON FUNCTION audit.mapping_as_of(timestamptz) FROM PUBLIC;

-- The auditor: the audit schema's views and function, nothing else. Grants
-- are per object, on purpose: a view added later is exposed only by a
-- grant of its own (and a view dropped and re-created loses its grant).
GRANT USAGE ON SCHEMA audit TO patientlink_auditor;
GRANT SELECT ON audit.linkage_history, audit.workflow_timeline, audit.webhook_deliveries,
    audit.reconciliation_reports TO patientlink_auditor;
GRANT EXECUTE ON FUNCTION audit.mapping_as_of(timestamptz) TO patientlink_auditor;

-- The application: rows of every table, no DDL, no TRUNCATE. The history
-- triggers refuse its UPDATE and DELETE of history like anyone's. Tables
-- and sequences that later migrations create (run by the same role as
-- this one) get the same grants.
GRANT USAGE ON SCHEMA public TO patientlink_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO patientlink_app;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO patientlink_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO patientlink_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT USAGE ON SEQUENCES TO patientlink_app;
