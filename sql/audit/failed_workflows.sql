-- Question: which requests failed in a period, and why? Each move to
-- FAILED with its reason (e.g. index_unavailable, reconcile_limit, operator_stop),
-- the state it failed in, and the workflow's state now (an operator may
-- have retried it since).
--
-- Variables:
--   from, to     the period, from inclusive, to exclusive (timestamptz)
--   customer_id  optional: only this customer's workflows (uuid)
--
-- Run:
--   psql -v from=2025-03-01 -v to=2025-04-01 -f sql/audit/failed_workflows.sql
--
-- Columns: failed_at | customer_id | workflow_id | customer_patient_id |
--   request_type | failed_in | attempt | reason | status_now
\if :{?customer_id}
\else
\set customer_id ''
\endif
SELECT f.created_at AS failed_at,
       f.customer_id,
       f.workflow_id,
       f.customer_patient_id,
       f.request_type,
       f.from_status AS failed_in,
       f.attempt,
       f.reason,
       cur.to_status AS status_now
FROM audit.workflow_timeline AS f
CROSS JOIN LATERAL (
    SELECT c.to_status FROM audit.workflow_timeline AS c
    WHERE c.workflow_id = f.workflow_id
    ORDER BY c.id DESC
    LIMIT 1
) AS cur
WHERE f.to_status = 'FAILED'
  AND f.created_at >= :'from' AND f.created_at < :'to'
  AND (:'customer_id' = '' OR f.customer_id::text = lower(:'customer_id'))
ORDER BY f.created_at, f.id;
