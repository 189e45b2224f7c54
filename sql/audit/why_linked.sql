-- Question: why is this patient linked (or not)? The whole chain for one
-- of a customer's patients, oldest first: every decision about it (the
-- candidates by internal id and score, the policy in force, the margin
-- seen, the rule that decided, and who decided and why when a person did)
-- and every mapping change it made (how: AUTO or MANUAL, and by whom).
-- It reads history only, so the answer survives the purge of the request
-- payloads.
--
-- Variables:
--   customer_id  the customer's id (uuid)
--   patient_id   the customer's patient id (uuid)
--
-- Run:
--   psql -v customer_id=<uuid> -v patient_id=<uuid> -f sql/audit/why_linked.sql
--
-- Columns: at | kind (decision, mapping) | workflow_id | outcome |
--   rule | internal_patient_id | decided_by | detail
SELECT chain.at, chain.kind, chain.workflow_id, chain.outcome, chain.rule,
       chain.internal_patient_id, chain.decided_by, chain.detail
FROM (
    SELECT d.created_at AS at, 'decision' AS kind, d.id AS ord, d.workflow_id, d.outcome, d.rule,
           coalesce(d.internal_patient_id, '') AS internal_patient_id,
           coalesce(d.actor, 'policy ' || d.policy_version) AS decided_by,
           concat_ws('; ',
               'threshold ' || d.threshold || ', margin ' || d.margin,
               'margin seen ' || round(d.margin_seen::numeric, 4),
               'candidates ' || coalesce((SELECT string_agg((c ->> 'internal-patient-id') || ' ' || (c ->> 'score'), ', ' ORDER BY n)
                                          FROM jsonb_array_elements(d.candidates) WITH ORDINALITY AS x (c, n)), 'none'),
               'held by ' || d.conflict_patient_id,
               'reason: ' || d.reason) AS detail
    FROM audit.decisions AS d
    WHERE d.customer_id = :'customer_id' AND d.customer_patient_id = :'patient_id'
    UNION ALL
    SELECT l.created_at, 'mapping', l.id, l.workflow_id, l.status, '', l.internal_patient_id,
           coalesce(l.actor, ''),
           concat_ws('; ', 'mapping ' || l.mapping_id, CASE WHEN l.status = 'LINKED' THEN coalesce(l.link_source, 'AUTO') END)
    FROM audit.linkage_history AS l
    WHERE l.customer_id = :'customer_id' AND l.customer_patient_id = :'patient_id'
) AS chain
ORDER BY chain.at, chain.kind, chain.ord;
