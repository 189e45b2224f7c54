-- Question: how did a customer's mappings stand at a past moment? Each
-- mapping made by then, with its status at that moment (LINKED or
-- DE-LINKED), since when, and the request that made that status. Rebuilt
-- from the mapping history alone (audit.mapping_as_of).
--
-- Variables:
--   at           the moment (timestamptz, e.g. '2025-03-05 12:00:00+00')
--   customer_id  the customer's id (uuid)
--
-- Run:
--   psql -v at='2025-03-05 12:00:00+00' -v customer_id=<uuid> -f sql/audit/mappings_as_of.sql
--
-- Columns: customer_patient_id | internal_patient_id | status | status_since |
--   workflow_id | link_workflow_id | mapping_id
SELECT m.customer_patient_id,
       m.internal_patient_id,
       m.status,
       m.status_since,
       m.workflow_id,
       m.link_workflow_id,
       m.mapping_id
FROM audit.mapping_as_of(:'at') AS m
WHERE m.customer_id = :'customer_id'
ORDER BY m.customer_patient_id, m.mapping_id;
