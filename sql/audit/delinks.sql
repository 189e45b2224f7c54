-- Question: which links were undone in a period, and who asked? Each
-- de-link with the customer and the DELINK request (workflow) that asked
-- for it, when that request was received, and the link it undid.
--
-- Variables:
--   from, to     the period, from inclusive, to exclusive (timestamptz)
--   customer_id  optional: only this customer's de-links (uuid)
--
-- Run:
--   psql -v from=2025-03-01 -v to=2025-04-01 -f sql/audit/delinks.sql
--   psql -v from=2025-03-01 -v to=2025-04-01 -v customer_id=<uuid> -f sql/audit/delinks.sql
--
-- Columns: delinked_at | customer_id | delink_workflow_id | requested_at |
--   customer_patient_id | internal_patient_id | mapping_id | linked_at |
--   link_workflow_id
\if :{?customer_id}
\else
\set customer_id ''
\endif
SELECT u.created_at AS delinked_at,
       u.customer_id,
       u.workflow_id AS delink_workflow_id,
       u.request_received_at AS requested_at,
       u.customer_patient_id,
       u.internal_patient_id,
       u.mapping_id,
       l.created_at AS linked_at,
       u.link_workflow_id
FROM audit.linkage_history AS u
LEFT JOIN audit.linkage_history AS l ON l.mapping_id = u.mapping_id AND l.status = 'LINKED'
WHERE u.status = 'DE-LINKED'
  AND u.created_at >= :'from' AND u.created_at < :'to'
  AND (:'customer_id' = '' OR u.customer_id::text = lower(:'customer_id'))
ORDER BY u.created_at, u.id;
