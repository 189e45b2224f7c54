-- name: HistoryListForPatient :many
-- Every workflow transition and mapping change of a customer's patient,
-- oldest first: the customer's view of the audit trail (ids, states, times,
-- reasons; no candidates, no demographics). One read over
-- workflows_customer_patient + workflow_events_workflow and
-- mapping_events_patient.
SELECT h.at, h.kind, h.id, h.workflow_id, h.request_type, h.from_status, h.to_status, h.reason, h.internal_patient_id,
       h.rule
FROM (
    SELECT e.created_at AS at, 'workflow'::text AS kind, e.id, e.workflow_id, e.request_type,
           e.from_status, e.to_status, e.reason, NULL::text AS internal_patient_id,
           -- the rule of the decision that made this outcome (decisions_workflow)
           COALESCE((SELECT d.rule FROM decisions AS d
                     WHERE d.workflow_id = e.workflow_id AND d.outcome = e.to_status AND d.actor IS NULL
                     ORDER BY d.id DESC LIMIT 1), '')::text AS rule
    FROM workflows AS w
    JOIN workflow_events AS e ON e.workflow_id = w.id
    WHERE w.customer_id = @customer_id AND w.patient_id = @patient_id
    UNION ALL
    SELECT m.created_at, 'mapping'::text, m.id, m.workflow_id, m.request_type,
           CASE m.status WHEN 'DE-LINKED' THEN 'LINKED' END, m.status, NULL::text, m.internal_patient_id,
           CASE WHEN m.link_source = 'MANUAL' THEN 'manual_link' ELSE '' END
    FROM mapping_events AS m
    WHERE m.customer_id = @customer_id AND m.customer_patient_id = @patient_id
) AS h
ORDER BY h.at, h.kind DESC, h.id
LIMIT @max_rows;
