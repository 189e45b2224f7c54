-- Question: which patients did a customer link in a period, to which
-- internal patients, through which request, and was the link undone
-- since (then or later)?
--
-- Variables:
--   customer_id  the customer's id (uuid)
--   from, to     the period, from inclusive, to exclusive (timestamptz,
--                e.g. 2025-03-01 or '2025-03-01 00:00:00+00')
--
-- Run:
--   psql -v customer_id=<uuid> -v from=2025-03-01 -v to=2025-04-01 -f sql/audit/customer_links.sql
--
-- Columns: linked_at | customer_patient_id | internal_patient_id |
--   link_workflow_id | request_received_at | mapping_id | score |
--   delinked_at | delink_workflow_id (both empty while the link stands)
SELECT l.created_at AS linked_at,
       l.customer_patient_id,
       l.internal_patient_id,
       l.workflow_id AS link_workflow_id,
       l.request_received_at,
       l.mapping_id,
       l.score,
       u.created_at AS delinked_at,
       u.workflow_id AS delink_workflow_id
FROM audit.linkage_history AS l
LEFT JOIN audit.linkage_history AS u ON u.mapping_id = l.mapping_id AND u.status = 'DE-LINKED'
WHERE l.status = 'LINKED'
  AND l.customer_id = :'customer_id'
  AND l.created_at >= :'from' AND l.created_at < :'to'
ORDER BY l.created_at, l.id;
