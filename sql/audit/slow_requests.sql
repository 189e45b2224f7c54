-- Question: which requests took longer than N minutes from acknowledgement
-- to notification? Acknowledgement is the workflow's first event
-- (RECEIVED); notification is the first delivered webhook or the COMPLETED
-- event, whichever came first. A request not notified yet counts until
-- now: notified_at is then empty.
--
-- Variables:
--   minutes      the threshold in minutes (e.g. 7, or 1.5)
--   from, to     when the requests were received, from inclusive, to
--                exclusive (timestamptz)
--   customer_id  optional: only this customer's requests (uuid)
--
-- Run:
--   psql -v minutes=7 -v from=2025-03-01 -v to=2025-04-01 -f sql/audit/slow_requests.sql
--
-- Columns: received_at | customer_id | workflow_id | customer_patient_id |
--   request_type | notified_at | minutes (received to notified, or to now)
\if :{?customer_id}
\else
\set customer_id ''
\endif
WITH received AS (
    SELECT t.workflow_id, t.customer_id, t.customer_patient_id, t.request_type,
           t.created_at AS received_at
    FROM audit.workflow_timeline AS t
    WHERE t.from_status IS NULL AND t.to_status = 'RECEIVED'
      AND t.created_at >= :'from' AND t.created_at < :'to'
      AND (:'customer_id' = '' OR t.customer_id::text = lower(:'customer_id'))
), notified AS (
    SELECT r.*,
           least(
               (SELECT min(d.attempted_at) FROM audit.webhook_deliveries AS d
                WHERE d.workflow_id = r.workflow_id AND d.delivered),
               (SELECT min(c.created_at) FROM audit.workflow_timeline AS c
                WHERE c.workflow_id = r.workflow_id AND c.to_status = 'COMPLETED')
           ) AS notified_at
    FROM received AS r
)
SELECT n.received_at,
       n.customer_id,
       n.workflow_id,
       n.customer_patient_id,
       n.request_type,
       n.notified_at,
       round(extract(epoch FROM coalesce(n.notified_at, now()) - n.received_at) / 60, 1) AS minutes
FROM notified AS n
WHERE coalesce(n.notified_at, now()) - n.received_at > :'minutes'::numeric * interval '1 minute'
ORDER BY n.received_at, n.workflow_id;
