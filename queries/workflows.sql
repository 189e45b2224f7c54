-- name: WorkflowCreateClaimingKey :one
-- An acknowledgement's writes in one round trip: claims (customer, key)
-- and, only if that succeeded, inserts the workflow, its first history
-- event and its sealed payload.
-- The claim: a live key row held by another transaction makes this wait
-- for it; an expired one is taken over. claimed = 0: the key is taken and
-- nothing was written (read it with IdempotencyKeyGet).
-- The workflow: a LINK is refused when the patient is already linked, a
-- DELINK when it is not: created = 0, and linked_workflow_id says why. A
-- review open for the patient is superseded by the new workflow.
-- (One statement instead of two saves a round trip inside the
-- transaction: see BENCHMARKS.md.)
WITH k AS (
    INSERT INTO idempotency_keys AS ik (customer_id, key, request_hash, response_status, response_body, workflow_id, expires_at)
    VALUES (@customer_id, @key, @request_hash, @response_status, @response_body, @id::uuid, now() + make_interval(secs => @ttl_seconds::float8))
    ON CONFLICT (customer_id, key) DO UPDATE
        SET request_hash = EXCLUDED.request_hash,
            response_status = EXCLUDED.response_status,
            response_body = EXCLUDED.response_body,
            workflow_id = EXCLUDED.workflow_id,
            created_at = now(),
            expires_at = EXCLUDED.expires_at
        WHERE ik.expires_at <= now()
    RETURNING ik.created_at
), linked AS (
    SELECT m.workflow_id FROM patient_mappings m
    WHERE m.customer_id = @customer_id AND m.customer_patient_id = @patient_id AND m.status = 'LINKED'
), w AS (
    INSERT INTO workflows (id, customer_id, patient_id, request_type, status, webhook_url)
    SELECT @id, @customer_id, @patient_id, @request_type, 'RECEIVED', @webhook_url
    WHERE EXISTS (SELECT 1 FROM k)
      AND (@request_type::text = 'LINK') = NOT EXISTS (SELECT 1 FROM linked)
    RETURNING *
), e AS (
    INSERT INTO workflow_events (workflow_id, customer_id, request_type, from_status, to_status, attempt)
    SELECT w.id, w.customer_id, w.request_type, NULL, w.status, w.attempt FROM w
), p AS (
    INSERT INTO request_payloads (workflow_id, key_id, sealed)
    SELECT w.id, @key_id, @sealed FROM w WHERE @key_id::text <> ''
), r AS (
    -- A new request for a patient under review closes the review: the
    -- customer decided by sending more.
    UPDATE reviews AS rv SET status = 'superseded', closed_at = now(), superseded_by = w.id
    FROM w
    WHERE rv.customer_id = w.customer_id AND rv.patient_id = w.patient_id AND rv.status = 'open'
)
SELECT (SELECT count(*) FROM k)::int AS claimed,
       (SELECT count(*) FROM w)::int AS created,
       COALESCE((SELECT linked.workflow_id FROM linked), '00000000-0000-0000-0000-000000000000'::uuid)::uuid AS linked_workflow_id;

-- name: WorkflowGetByID :one
SELECT * FROM workflows WHERE id = @id;

-- name: WorkflowGetBySearchID :one
SELECT * FROM workflows WHERE search_id = @search_id;

-- name: WorkflowGetOpenForPatient :one
SELECT * FROM workflows
WHERE customer_id = @customer_id AND patient_id = @patient_id AND status IN ('RECEIVED', 'IN_PROGRESS', 'REQUESTED');

-- name: WorkflowGetLatestForPatient :one
-- The patient's newest workflow (workflows_customer_patient).
SELECT * FROM workflows
WHERE customer_id = @customer_id AND patient_id = @patient_id
ORDER BY created_at DESC
LIMIT 1;

-- name: WorkflowTransition :one
-- Moves a workflow to to_status only from one of from_states (the state
-- machine's allowed sources) and appends the history event, in one
-- statement. No row back: the workflow was not in an allowed state.
WITH old AS (
    SELECT cur.id, cur.status FROM workflows AS cur WHERE cur.id = @id FOR UPDATE
), w AS (
    UPDATE workflows AS wf
    SET status     = @to_status,
        outcome    = COALESCE(sqlc.narg(outcome), wf.outcome),
        reason     = CASE WHEN @to_status::text = 'FAILED' THEN sqlc.narg(reason) END,
        search_id  = COALESCE(sqlc.narg(search_id), wf.search_id),
        attempt    = wf.attempt + @attempt_increment::int,
        updated_at = now(),
        ended_at   = CASE WHEN @to_status::text IN ('COMPLETED', 'FAILED') THEN now() END
    FROM old
    WHERE wf.id = old.id AND old.status = ANY(@from_states::text[])
    RETURNING wf.*, old.status AS from_status
), e AS (
    INSERT INTO workflow_events (workflow_id, customer_id, request_type, from_status, to_status, reason, attempt, actor)
    SELECT w.id, w.customer_id, w.request_type, w.from_status, w.status, sqlc.narg(reason), @event_attempt, sqlc.narg(actor) FROM w
)
SELECT id, customer_id, patient_id, request_type, status, outcome, reason, webhook_url, attempt,
       created_at, updated_at, ended_at, search_id, reconcile_count, from_status
FROM w;

-- name: WorkflowStart :one
-- A link.process job's first statement: moves the workflow to IN_PROGRESS
-- when the state machine (workflow_transitions, equal to Go's) allows it,
-- with its history event (as WorkflowTransition would), and returns it with its sealed payload. started = false: it was
-- in no such state (a repeat) and the row is the workflow as it stands. No
-- row: no such workflow. (reason is the old row's: IN_PROGRESS clears it.)
-- One statement, one transaction, where a read, a transition and a second
-- read were three.
WITH old AS (
    SELECT cur.* FROM workflows AS cur WHERE cur.id = @id FOR UPDATE
), w AS (
    UPDATE workflows AS wf
    SET status = 'IN_PROGRESS', reason = NULL, updated_at = now(), ended_at = NULL
    FROM old
    WHERE wf.id = old.id AND EXISTS (
        SELECT 1 FROM workflow_transitions AS t
        WHERE t.request_type = old.request_type AND t.from_status = old.status AND t.to_status = 'IN_PROGRESS'
    )
    RETURNING wf.id, wf.status, wf.updated_at, wf.customer_id, wf.request_type, old.status AS from_status
), e AS (
    INSERT INTO workflow_events (workflow_id, customer_id, request_type, from_status, to_status, reason, attempt, actor)
    SELECT w.id, w.customer_id, w.request_type, w.from_status, w.status, NULL, @event_attempt, NULL FROM w
)
SELECT old.id, old.customer_id, old.patient_id, old.request_type,
       COALESCE(w.status, old.status)::text AS status, old.outcome,
       old.reason, old.webhook_url, old.attempt, old.created_at,
       COALESCE(w.updated_at, old.updated_at)::timestamptz AS updated_at, old.search_id, old.reconcile_count,
       (w.id IS NOT NULL)::boolean AS started, old.status AS from_status,
       p.key_id AS payload_key_id, p.sealed AS payload_sealed
FROM old
LEFT JOIN w ON w.id = old.id
LEFT JOIN request_payloads AS p ON p.workflow_id = old.id;

-- name: WorkflowStatusGet :one
SELECT status FROM workflows WHERE id = @id;

-- name: WorkflowLock :one
-- Locks the workflow row for the rest of the transaction and reads it
-- there: whoever records an outcome holds it, so a racing duplicate waits
-- and then sees the result.
SELECT * FROM workflows WHERE id = @id FOR UPDATE;

-- name: WorkflowGetWithCustomerStatus :one
-- A status poll's one read: the workflow, if this customer owns it, with
-- the customer's state (a disabled customer is refused), the delivery of
-- its latest event, the rule of its automatic decision and its review.
SELECT sqlc.embed(w), c.status AS customer_status,
       COALESCE(ev.id, '')::text AS event_id, COALESCE(ev.delivery_status, '')::text AS delivery_status,
       COALESCE(ev.attempts, 0)::int AS event_attempts,
       ev.last_attempt_at AS event_last_attempt_at, ev.last_error AS event_last_error,
       COALESCE(d.rule, '')::text AS decision_rule, d.conflict_patient_id AS decision_conflict_patient_id,
       COALESCE(rv.status, '')::text AS review_status, rv.decision AS review_decision, rv.closed_at AS review_closed_at
FROM workflows AS w
JOIN customers AS c ON c.id = w.customer_id
LEFT JOIN LATERAL (
    SELECT e.id, e.delivery_status, e.attempts, e.last_attempt_at, e.last_error
    FROM events AS e WHERE e.workflow_id = w.id
    ORDER BY e.sequence DESC LIMIT 1
) AS ev ON true
LEFT JOIN LATERAL (
    SELECT dc.rule, dc.conflict_patient_id FROM decisions AS dc
    WHERE dc.workflow_id = w.id AND dc.actor IS NULL
    ORDER BY dc.id DESC LIMIT 1
) AS d ON true
LEFT JOIN reviews AS rv ON rv.workflow_id = w.id
WHERE w.id = @id AND w.customer_id = @customer_id;

-- name: WorkflowCountPendingByStatus :many
-- Unfinished workflows: those being processed (a partial index) and those
-- with an outcome whose event is still to be delivered (found from the
-- pending events' partial index). Never a scan of the whole table.
SELECT p.status, count(*)::int AS n FROM (
    SELECT w.status FROM workflows AS w
    WHERE w.status IN ('RECEIVED', 'IN_PROGRESS', 'REQUESTED')
    UNION ALL
    SELECT w.status FROM workflows AS w
    WHERE w.id IN (SELECT e.workflow_id FROM events AS e WHERE e.delivery_status = 'pending')
      AND w.status NOT IN ('RECEIVED', 'IN_PROGRESS', 'REQUESTED', 'COMPLETED', 'FAILED')
) AS p
GROUP BY p.status;

-- name: WorkflowListStuck :many
-- Workflows being processed with no progress for older_than_seconds and
-- no live River job: lost work. Rows are locked, and rows another reconciler holds
-- are skipped, so concurrent passes split the work instead of doubling it.
SELECT w.* FROM workflows AS w
WHERE w.status IN ('RECEIVED', 'IN_PROGRESS', 'REQUESTED')
  AND w.updated_at < now() - make_interval(secs => @older_than_seconds::float8)
  AND NOT EXISTS (
      SELECT 1 FROM river_job AS j
      WHERE j.args @> jsonb_build_object('workflow_id', w.id::text)
        AND j.state IN ('available', 'pending', 'running', 'retryable', 'scheduled')
  )
ORDER BY w.updated_at
LIMIT @max_rows
FOR UPDATE OF w SKIP LOCKED;

-- name: WorkflowReconcileMark :one
-- Counts a reconcile attempt and records it in the history.
WITH w AS (
    UPDATE workflows AS wf
    SET reconcile_count = wf.reconcile_count + 1, updated_at = now()
    WHERE wf.id = @id
    RETURNING wf.*
), e AS (
    INSERT INTO workflow_events (workflow_id, customer_id, request_type, from_status, to_status, reason, attempt)
    SELECT w.id, w.customer_id, w.request_type, w.status, w.status, 'reconcile', w.reconcile_count FROM w
)
SELECT w.reconcile_count FROM w;

-- name: WorkflowReconcileReset :exec
UPDATE workflows SET reconcile_count = 0 WHERE id = @id;

-- name: WorkflowCreateBatch :many
-- A bulk acknowledgement's writes, set-based: the LINK workflows of every
-- patient that is neither linked nor pending (a pending one is skipped by
-- ON CONFLICT on workflows_one_open_per_patient, waiting for a racing
-- intake to end first), their first history rows and sealed payloads, and
-- the supersession of open reviews. One row per input, in input order:
-- created, or the LINKED mapping's workflow in the way.
WITH input AS (
    SELECT (@ids::uuid[])[g.ord] AS id, (@patient_ids::uuid[])[g.ord] AS patient_id,
           (@webhook_urls::text[])[g.ord] AS webhook_url, (@key_ids::text[])[g.ord] AS key_id,
           (@sealed::bytea[])[g.ord] AS sealed, g.ord
    FROM generate_series(1, cardinality(@ids::uuid[])) AS g(ord)
), linked AS (
    SELECT m.customer_patient_id, m.workflow_id FROM patient_mappings AS m
    WHERE m.customer_id = @customer_id AND m.status = 'LINKED'
      AND m.customer_patient_id IN (SELECT input.patient_id FROM input)
), w AS (
    INSERT INTO workflows (id, customer_id, patient_id, request_type, status, webhook_url, batch_id)
    SELECT i.id, @customer_id, i.patient_id, 'LINK', 'RECEIVED', NULLIF(i.webhook_url, ''), @batch_id::uuid
    FROM input AS i
    WHERE NOT EXISTS (SELECT 1 FROM linked WHERE linked.customer_patient_id = i.patient_id)
    ORDER BY i.patient_id -- one lock order for every batch: two that share patients cannot deadlock
    ON CONFLICT DO NOTHING
    RETURNING workflows.id, workflows.customer_id, workflows.patient_id, workflows.request_type, workflows.status, workflows.attempt
), e AS (
    INSERT INTO workflow_events (workflow_id, customer_id, request_type, from_status, to_status, attempt)
    SELECT w.id, w.customer_id, w.request_type, NULL, w.status, w.attempt FROM w
), p AS (
    INSERT INTO request_payloads (workflow_id, key_id, sealed)
    SELECT w.id, i.key_id, i.sealed FROM w JOIN input AS i ON i.id = w.id
), r AS (
    UPDATE reviews AS rv SET status = 'superseded', closed_at = now(), superseded_by = w.id
    FROM w
    WHERE rv.customer_id = w.customer_id AND rv.patient_id = w.patient_id AND rv.status = 'open'
)
SELECT i.id::uuid AS id, (w.id IS NOT NULL)::bool AS created,
       COALESCE(l.workflow_id, '00000000-0000-0000-0000-000000000000'::uuid)::uuid AS linked_workflow_id
FROM input AS i
LEFT JOIN w ON w.id = i.id
LEFT JOIN linked AS l ON l.customer_patient_id = i.patient_id
ORDER BY i.ord;

-- name: WorkflowGetOpenForPatients :many
SELECT id, patient_id FROM workflows
WHERE customer_id = @customer_id AND patient_id = ANY(@patient_ids::uuid[])
  AND status IN ('RECEIVED', 'IN_PROGRESS', 'REQUESTED');
