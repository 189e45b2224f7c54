-- Undoes 000020. The blanked idempotency fingerprints stay blank.

GRANT INSERT, UPDATE, DELETE ON schema_migrations TO patientlink_app;

DROP TRIGGER workflows_enforce_transition ON workflows;
DROP FUNCTION workflows_enforce_transition();
DROP TABLE workflow_transitions;

-- The views of 000012, reading the base tables again.
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
       w.created_at AS request_received_at,
       m.workflow_id AS link_workflow_id,
       m.score,
       e.link_source,
       e.actor
FROM public.mapping_events AS e
JOIN public.workflows AS w ON w.id = e.workflow_id
JOIN public.patient_mappings AS m ON m.id = e.mapping_id;

CREATE OR REPLACE VIEW audit.workflow_timeline AS
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

CREATE OR REPLACE VIEW audit.webhook_deliveries AS
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

DROP TRIGGER webhook_deliveries_snapshot ON webhook_deliveries;
DROP FUNCTION webhook_deliveries_snapshot();
DROP TRIGGER mapping_events_snapshot ON mapping_events;
DROP FUNCTION mapping_events_snapshot();
DROP TRIGGER workflow_events_snapshot ON workflow_events;
DROP FUNCTION workflow_events_snapshot();

ALTER TABLE webhook_deliveries DROP COLUMN request_type, DROP COLUMN customer_patient_id;
ALTER TABLE mapping_events DROP COLUMN request_received_at, DROP COLUMN link_workflow_id, DROP COLUMN score;
ALTER TABLE workflow_events DROP COLUMN customer_patient_id;

DROP TRIGGER action_history_stamp ON action_history;
DROP TRIGGER decisions_stamp ON decisions;
DROP TRIGGER reconciliation_reports_stamp ON reconciliation_reports;
DROP TRIGGER webhook_deliveries_stamp ON webhook_deliveries;
DROP TRIGGER mapping_events_stamp ON mapping_events;
DROP TRIGGER workflow_events_stamp ON workflow_events;
DROP FUNCTION history_stamp();
