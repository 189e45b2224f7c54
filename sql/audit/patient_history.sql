-- Question: what happened to one patient of a customer? Every request made
-- for the patient (each workflow transition), every link and de-link of
-- the patient (with the internal patient id), and every webhook attempt
-- that told the customer, oldest first. At one instant, the mapping change
-- or delivery comes before the transition it caused.
--
-- Variables:
--   customer_id  the customer's id (uuid)
--   patient_id   the customer's own patient id (uuid), as sent in the request
--
-- Run:
--   psql -v customer_id=<uuid> -v patient_id=<uuid> -f sql/audit/patient_history.sql
--
-- Columns: at | source (workflow, mapping, webhook) | workflow_id |
--   request_type | status (the workflow's new state, LINKED/DE-LINKED, or
--   DELIVERED/NOT DELIVERED) | internal_patient_id (mapping rows) | detail
SELECT h.at, h.source, h.workflow_id, h.request_type, h.status, h.internal_patient_id, h.detail
FROM (
    SELECT m.created_at AS at, 1 AS source_order, m.id, 'mapping' AS source, m.workflow_id,
           m.request_type, m.status, m.internal_patient_id,
           concat_ws('; ', 'mapping ' || m.mapping_id,
                     CASE WHEN m.status = 'LINKED' THEN 'score ' || m.score
                          ELSE 'undoes the link made by ' || m.link_workflow_id END) AS detail
    FROM audit.linkage_history AS m
    WHERE m.customer_id = :'customer_id' AND m.customer_patient_id = :'patient_id'
    UNION ALL
    SELECT d.attempted_at, 2, d.id, 'webhook', d.workflow_id,
           d.request_type, CASE WHEN d.delivered THEN 'DELIVERED' ELSE 'NOT DELIVERED' END, NULL,
           concat_ws('; ', 'attempt ' || d.attempt, 'host ' || d.target_host, 'HTTP ' || d.status_code,
                     'error: ' || d.error, 'event ' || d.event_id)
    FROM audit.webhook_deliveries AS d
    WHERE d.customer_id = :'customer_id' AND d.customer_patient_id = :'patient_id'
    UNION ALL
    SELECT t.created_at, 3, t.id, 'workflow', t.workflow_id,
           t.request_type, t.to_status, NULL,
           concat_ws('; ', 'from ' || t.from_status, 'attempt ' || t.attempt, 'reason: ' || t.reason)
    FROM audit.workflow_timeline AS t
    WHERE t.customer_id = :'customer_id' AND t.customer_patient_id = :'patient_id'
) AS h
ORDER BY h.at, h.source_order, h.id;
