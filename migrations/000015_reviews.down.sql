DROP VIEW audit.linkage_history;
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
GRANT SELECT ON audit.linkage_history TO patientlink_auditor;

DROP VIEW audit.reviews;
DROP VIEW audit.decisions;
ALTER TABLE reconciliation_reports DROP COLUMN open_reviews;
ALTER TABLE mapping_events DROP COLUMN actor, DROP COLUMN link_source;
ALTER TABLE patient_mappings DROP COLUMN linked_by, DROP COLUMN link_source;
DROP TABLE reviews;
DROP TABLE decisions;
