-- Undoes 000012 in this database. The roles stay: they belong to the
-- cluster and other databases may still use them; what this database
-- granted them goes.

DROP FUNCTION audit.mapping_as_of(timestamptz);
DROP VIEW audit.reconciliation_reports;
DROP VIEW audit.webhook_deliveries;
DROP VIEW audit.workflow_timeline;
DROP VIEW audit.linkage_history;
DROP SCHEMA audit;

ALTER DEFAULT PRIVILEGES IN SCHEMA public
    REVOKE USAGE ON SEQUENCES FROM patientlink_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    REVOKE SELECT, INSERT, UPDATE, DELETE ON TABLES FROM patientlink_app;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM patientlink_app;
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM patientlink_app;
REVOKE ALL ON SCHEMA public FROM patientlink_app;

DROP TABLE reconciliation_reports;
