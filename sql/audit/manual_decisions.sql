-- Question: which decisions did people make in a period, and why? Every
-- review resolution (link to a candidate, or no match) with its actor,
-- reason, the outcome it replaced and the candidate chosen.
--
-- Variables:
--   from, to  the period, from inclusive, to exclusive (timestamptz)
--   actor     optional: only this person (as recorded, e.g. operator:alice)
--
-- Run:
--   psql -v from=2025-03-01 -v to=2025-04-01 [-v actor=operator:alice] -f sql/audit/manual_decisions.sql
--
-- Columns: decided_at | actor | customer_id | customer_patient_id |
--   workflow_id | review_id | previous_outcome | decision | outcome |
--   internal_patient_id | reason
\if :{?actor}
\else
\set actor ''
\endif
SELECT d.created_at AS decided_at,
       d.actor,
       d.customer_id,
       d.customer_patient_id,
       d.workflow_id,
       d.review_id,
       r.outcome AS previous_outcome,
       r.decision,
       d.outcome,
       coalesce(d.internal_patient_id, '') AS internal_patient_id,
       d.reason
FROM audit.decisions AS d
LEFT JOIN audit.reviews AS r ON r.id = d.review_id
WHERE d.actor IS NOT NULL
  AND d.created_at >= :'from' AND d.created_at < :'to'
  AND (:'actor' = '' OR d.actor = :'actor')
ORDER BY d.created_at, d.id;
