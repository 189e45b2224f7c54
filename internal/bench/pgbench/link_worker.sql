
-- ===== The rest of a link's life: appended to ack.sql to make the whole link.
-- link.process: the producer fetches the job (River's JobGetAvailable; one
-- job per fetch is the most it can cost: under load River fetches batches).
WITH locked_jobs AS (
    SELECT
        id, args, attempt, attempted_at, attempted_by, created_at, errors, finalized_at, kind, max_attempts, metadata, priority, queue, state, scheduled_at, tags, unique_key, unique_states
    FROM
        river_job
    WHERE
        state = 'available'
        AND queue = :queue::text
        AND (NULL::text[] IS NULL OR kind = ANY(NULL::text[]))
        AND scheduled_at <= coalesce(NULL::timestamptz, now())
    ORDER BY
        priority ASC,
        scheduled_at ASC,
        id ASC
    LIMIT 1
    FOR UPDATE
    SKIP LOCKED
)
UPDATE
    river_job
SET
    state = 'running',
    attempt = river_job.attempt + 1,
    attempted_at = coalesce(NULL::timestamptz, now()),
    attempted_by = array_append(
        CASE WHEN array_length(river_job.attempted_by, 1) >= 100::int
        THEN river_job.attempted_by[array_length(river_job.attempted_by, 1) + 2 - 100:]
        ELSE river_job.attempted_by
        END,
        'pgbench'::text
    )
FROM
    locked_jobs
WHERE
    river_job.id = locked_jobs.id
RETURNING
    river_job.id, river_job.args, river_job.attempt, river_job.attempted_at, river_job.attempted_by, river_job.created_at, river_job.errors, river_job.finalized_at, river_job.kind, river_job.max_attempts, river_job.metadata, river_job.priority, river_job.queue, river_job.state, river_job.scheduled_at, river_job.tags, river_job.unique_key, river_job.unique_states;
-- Work: the workflow, then IN_PROGRESS in its own transaction.
-- sqlc: WorkflowGetByID
SELECT id, customer_id, patient_id, request_type, status, outcome, reason, webhook_url, attempt, created_at, updated_at, ended_at, search_id, reconcile_count FROM workflows WHERE id = :wf;
BEGIN;
-- sqlc: WorkflowTransition to IN_PROGRESS
WITH old AS (SELECT cur.id, cur.status FROM workflows AS cur WHERE cur.id = :wf FOR UPDATE), w AS (UPDATE workflows AS wf SET status = 'IN_PROGRESS', outcome = COALESCE(NULL::text, wf.outcome), reason = CASE WHEN 'IN_PROGRESS'::text = 'FAILED' THEN NULL::text END, search_id = COALESCE(NULL::text, wf.search_id), attempt = wf.attempt + 0::int, updated_at = now(), ended_at = CASE WHEN 'IN_PROGRESS'::text IN ('COMPLETED', 'FAILED') THEN now() END FROM old WHERE wf.id = old.id AND old.status = ANY(ARRAY['RECEIVED','IN_PROGRESS','REQUESTED']::text[]) RETURNING wf.*, old.status AS from_status), e AS (INSERT INTO workflow_events (workflow_id, customer_id, request_type, from_status, to_status, reason, attempt, actor) SELECT w.id, w.customer_id, w.request_type, w.from_status, w.status, NULL::text, 1, NULL::text FROM w) SELECT id, customer_id, patient_id, request_type, status, outcome, reason, webhook_url, attempt, created_at, updated_at, ended_at, search_id, reconcile_count, from_status FROM w;
COMMIT;
-- The sealed payload (then the index search: HTTP, no database work).
-- sqlc: RequestPayloadGet
SELECT workflow_id, key_id, sealed, created_at FROM request_payloads WHERE workflow_id = :wf;
-- The outcome: row lock, mapping with its history, LINKED with its history,
-- the webhook.deliver job and the link job's completion (JobCompleteTx).
BEGIN;
-- sqlc: WorkflowLock
SELECT id, customer_id, patient_id, request_type, status, outcome, reason, webhook_url, attempt, created_at, updated_at, ended_at, search_id, reconcile_count FROM workflows WHERE id = :wf FOR UPDATE;
-- sqlc: MappingLink
WITH m AS (INSERT INTO patient_mappings (customer_id, customer_patient_id, internal_patient_id, status, score, workflow_id, link_source, linked_by) SELECT :customer, w.patient_id, md5(:wf || 'internal'), 'LINKED', 0.99, :wf, 'AUTO', NULL::text FROM workflows w WHERE w.id = :wf ON CONFLICT DO NOTHING RETURNING *), e AS (INSERT INTO mapping_events (mapping_id, customer_id, customer_patient_id, internal_patient_id, status, workflow_id, request_type, link_source, actor) SELECT m.id, m.customer_id, m.customer_patient_id, m.internal_patient_id, m.status, m.workflow_id, 'LINK', m.link_source, m.linked_by FROM m) SELECT * FROM m;
-- The decision, explained.
-- sqlc: DecisionRecord
INSERT INTO decisions (workflow_id, customer_id, customer_patient_id, outcome, rule, policy_version, threshold, margin, margin_seen, candidates, internal_patient_id, conflict_patient_id, review_id, actor, reason) VALUES (:wf, :customer, (SELECT w.patient_id FROM workflows w WHERE w.id = :wf), 'LINKED', 'auto_link', 'score-margin/1', 0.9, 0.05, NULL::float8, ('[{"internal-patient-id": "' || md5(:wf::text || 'internal') || '", "score": 0.99}]')::jsonb, md5(:wf::text || 'internal'), NULL::uuid, NULL::uuid, NULL::text, NULL::text);
-- sqlc: WorkflowTransition to LINKED
WITH old AS (SELECT cur.id, cur.status FROM workflows AS cur WHERE cur.id = :wf FOR UPDATE), w AS (UPDATE workflows AS wf SET status = 'LINKED', outcome = COALESCE('LINKED'::text, wf.outcome), reason = CASE WHEN 'LINKED'::text = 'FAILED' THEN NULL::text END, search_id = COALESCE(NULL::text, wf.search_id), attempt = wf.attempt + 0::int, updated_at = now(), ended_at = CASE WHEN 'LINKED'::text IN ('COMPLETED', 'FAILED') THEN now() END FROM old WHERE wf.id = old.id AND old.status = ANY(ARRAY['IN_PROGRESS','REQUESTED']::text[]) RETURNING wf.*, old.status AS from_status), e AS (INSERT INTO workflow_events (workflow_id, customer_id, request_type, from_status, to_status, reason, attempt, actor) SELECT w.id, w.customer_id, w.request_type, w.from_status, w.status, NULL::text, 1, NULL::text FROM w) SELECT id, customer_id, patient_id, request_type, status, outcome, reason, webhook_url, attempt, created_at, updated_at, ended_at, search_id, reconcile_count, from_status FROM w;
-- The event that tells the customer, with its frozen body.
-- sqlc: EventCreate
WITH seq AS (INSERT INTO patient_event_sequences AS s (customer_id, patient_id, last) VALUES (:customer, (SELECT w.patient_id FROM workflows w WHERE w.id = :wf), 1) ON CONFLICT (customer_id, patient_id) DO UPDATE SET last = s.last + 1 RETURNING s.last), target AS (SELECT COALESCE(w.webhook_url, c.webhook_url, '') AS url FROM workflows AS w JOIN customers AS c ON c.id = w.customer_id WHERE w.id = :wf) INSERT INTO events (id, type, customer_id, workflow_id, patient_id, sequence, created_at, body, delivery_status, next_attempt_at) SELECT 'msg_' || replace(:wf, '-', ''), 'link.completed', :customer, :wf, (SELECT w.patient_id FROM workflows w WHERE w.id = :wf), seq.last, now(), convert_to(jsonb_build_object('id', 'msg_' || replace(:wf, '-', '')::text, 'type', 'link.completed'::text, 'timestamp', (to_jsonb(now() AT TIME ZONE 'UTC') #>> '{}') || 'Z', 'data', ('{"workflow-id": "' || :wf::text || '", "status": "COMPLETED", "outcome": "LINKED"}')::jsonb || jsonb_build_object('sequence', seq.last))::text, 'UTF8'), CASE WHEN target.url <> '' THEN 'pending' ELSE 'none' END, CASE WHEN target.url <> '' THEN now() END FROM seq, target RETURNING *;
WITH raw_job_data AS (
    SELECT
        unnest(ARRAY[0]::bigint[]) AS id,
        unnest(ARRAY[('{"event_id": "msg_' || replace(:wf, '-', '') || '", "workflow_id": "' || :wf || '"}')::jsonb]) AS args,
        unnest(ARRAY[now()]::timestamptz[]) AS created_at,
        unnest(ARRAY['webhook.deliver']::text[]) AS kind,
        unnest(ARRAY[100]::smallint[]) AS max_attempts,
        unnest(ARRAY['{}'::jsonb]) AS metadata,
        unnest(ARRAY[1]::smallint[]) AS priority,
        unnest(ARRAY[:queue || '_webhook']::text[]) AS queue,
        unnest(ARRAY[now()]::timestamptz[]) AS scheduled_at,
        unnest(ARRAY['available']::text[]) AS state,
        unnest(ARRAY['']::text[]) AS tags,
        unnest(ARRAY[''::bytea]::bytea[]) AS unique_key,
        unnest(ARRAY[0]::integer[]) AS unique_states
)
INSERT INTO river_job(
    id, args, created_at, kind, max_attempts, metadata, priority, queue, scheduled_at, state, tags, unique_key, unique_states
) SELECT
    coalesce(nullif(id, 0), nextval('river_job_id_seq'::regclass)),
    args,
    coalesce(nullif(created_at, '0001-01-01 00:00:00 +0000'), now()) AS created_at,
    kind,
    max_attempts,
    coalesce(metadata, '{}'::jsonb) AS metadata,
    priority,
    queue,
    coalesce(nullif(scheduled_at, '0001-01-01 00:00:00 +0000'), now()) AS scheduled_at,
    state::river_job_state,
    string_to_array(tags, ',')::varchar(255)[],
    nullif(unique_key, '')::bytea,
    nullif(unique_states::integer, 0)::bit(8)
FROM raw_job_data
ON CONFLICT (unique_key)
    WHERE unique_key IS NOT NULL
        AND unique_states IS NOT NULL
        AND river_job_state_in_bitmask(unique_states, state)
    DO UPDATE SET kind = river_job.kind
RETURNING
    river_job.id, river_job.args, river_job.attempt, river_job.attempted_at, river_job.attempted_by, river_job.created_at, river_job.errors, river_job.finalized_at, river_job.kind, river_job.max_attempts, river_job.metadata, river_job.priority, river_job.queue, river_job.state, river_job.scheduled_at, river_job.tags, river_job.unique_key, river_job.unique_states,
    (xmax != 0) AS unique_skipped_as_duplicate \gset hook_
\if :notify <= :notify_pct
WITH topic_to_notify AS (
    SELECT concat(coalesce(NULL::text, current_schema()), '.', 'river_insert'::text) AS topic,
           unnest(ARRAY['{"queue": "' || :queue || '_webhook"}']::text[]) AS payload
)
SELECT pg_notify(topic_to_notify.topic, topic_to_notify.payload) FROM topic_to_notify;
\endif
WITH job_input AS (
    SELECT
        unnest(ARRAY[:job_id]::bigint[])                     AS id,
        unnest(ARRAY[false]::boolean[])      AS attempt_do_update,
        unnest(ARRAY[0]::int[])                    AS attempt,
        unnest(ARRAY[false]::boolean[])       AS errors_do_update,
        unnest(ARRAY[NULL]::jsonb[])                   AS errors,
        unnest(ARRAY[true]::boolean[]) AS finalized_at_do_update,
        unnest(ARRAY[now()]::timestamptz[])       AS finalized_at,
        unnest(ARRAY[false]::boolean[])      AS metadata_do_merge,
        unnest(ARRAY[NULL]::jsonb[])         AS metadata_updates,
        unnest(ARRAY[false]::boolean[]) AS scheduled_at_do_update,
        unnest(ARRAY['0001-01-01 00:00:00+00']::timestamptz[])       AS scheduled_at,
        unnest(ARRAY['completed']::text[])::river_job_state AS state
),
updated AS (
    UPDATE river_job
    SET
        attempt = CASE
            WHEN river_job.state = 'running'
                 AND NOT (job_input.state IN ('available','retryable','scheduled') AND river_job.metadata ? 'cancel_attempted_at')
                 AND job_input.attempt_do_update
            THEN job_input.attempt
            ELSE river_job.attempt
        END,
        errors = CASE
            WHEN river_job.state = 'running'
                 AND job_input.errors_do_update
            THEN array_append(river_job.errors, job_input.errors)
            ELSE river_job.errors
        END,
        finalized_at = CASE
            WHEN river_job.state = 'running'
                 AND (job_input.state IN ('available','retryable','scheduled') AND river_job.metadata ? 'cancel_attempted_at')
            THEN coalesce(NULL::timestamptz, now())
            WHEN river_job.state = 'running'
                 AND job_input.finalized_at_do_update
            THEN job_input.finalized_at
            ELSE river_job.finalized_at
        END,
        metadata = CASE
            WHEN job_input.metadata_do_merge
            THEN river_job.metadata || job_input.metadata_updates
            ELSE river_job.metadata
        END,
        scheduled_at = CASE
            WHEN river_job.state = 'running'
                 AND NOT (job_input.state IN ('available','retryable','scheduled') AND river_job.metadata ? 'cancel_attempted_at')
                 AND job_input.scheduled_at_do_update
            THEN job_input.scheduled_at
            ELSE river_job.scheduled_at
        END,
        state = CASE
            WHEN river_job.state = 'running'
                 AND (job_input.state IN ('available','retryable','scheduled') AND river_job.metadata ? 'cancel_attempted_at')
            THEN 'cancelled'::river_job_state
            WHEN river_job.state = 'running'
            THEN job_input.state
            ELSE river_job.state
        END
    FROM job_input
    WHERE river_job.id = job_input.id
      AND (river_job.state = 'running' OR job_input.metadata_do_merge)
    RETURNING river_job.id, river_job.args, river_job.attempt, river_job.attempted_at, river_job.attempted_by, river_job.created_at, river_job.errors, river_job.finalized_at, river_job.kind, river_job.max_attempts, river_job.metadata, river_job.priority, river_job.queue, river_job.state, river_job.scheduled_at, river_job.tags, river_job.unique_key, river_job.unique_states
)
SELECT river_job.id, river_job.args, river_job.attempt, river_job.attempted_at, river_job.attempted_by, river_job.created_at, river_job.errors, river_job.finalized_at, river_job.kind, river_job.max_attempts, river_job.metadata, river_job.priority, river_job.queue, river_job.state, river_job.scheduled_at, river_job.tags, river_job.unique_key, river_job.unique_states
FROM river_job
JOIN job_input ON river_job.id = job_input.id
WHERE NOT EXISTS (
    SELECT 1
    FROM updated
    WHERE updated.id = river_job.id
)
UNION ALL
SELECT id, args, attempt, attempted_at, attempted_by, created_at, errors, finalized_at, kind, max_attempts, metadata, priority, queue, state, scheduled_at, tags, unique_key, unique_states
FROM updated
ORDER BY id;
COMMIT;
-- webhook.deliver: fetch, claim the attempt on the event, the workflow and
-- the customer, then (after the signed POST) the delivery record, the
-- workflow's latest event, COMPLETED and the job's completion.
WITH locked_jobs AS (
    SELECT
        id, args, attempt, attempted_at, attempted_by, created_at, errors, finalized_at, kind, max_attempts, metadata, priority, queue, state, scheduled_at, tags, unique_key, unique_states
    FROM
        river_job
    WHERE
        state = 'available'
        AND queue = :queue || '_webhook'::text
        AND (NULL::text[] IS NULL OR kind = ANY(NULL::text[]))
        AND scheduled_at <= coalesce(NULL::timestamptz, now())
    ORDER BY
        priority ASC,
        scheduled_at ASC,
        id ASC
    LIMIT 1
    FOR UPDATE
    SKIP LOCKED
)
UPDATE
    river_job
SET
    state = 'running',
    attempt = river_job.attempt + 1,
    attempted_at = coalesce(NULL::timestamptz, now()),
    attempted_by = array_append(
        CASE WHEN array_length(river_job.attempted_by, 1) >= 100::int
        THEN river_job.attempted_by[array_length(river_job.attempted_by, 1) + 2 - 100:]
        ELSE river_job.attempted_by
        END,
        'pgbench'::text
    )
FROM
    locked_jobs
WHERE
    river_job.id = locked_jobs.id
RETURNING
    river_job.id, river_job.args, river_job.attempt, river_job.attempted_at, river_job.attempted_by, river_job.created_at, river_job.errors, river_job.finalized_at, river_job.kind, river_job.max_attempts, river_job.metadata, river_job.priority, river_job.queue, river_job.state, river_job.scheduled_at, river_job.tags, river_job.unique_key, river_job.unique_states;
-- The attempt is claimed on the event first.
-- sqlc: EventClaimAttempt
UPDATE events AS e SET attempts = e.attempts + 1, next_attempt_at = now() + make_interval(secs => 120::float8), last_attempt_at = now() WHERE e.id = 'msg_' || replace(:wf, '-', '') AND e.delivery_status = 'pending' AND e.next_attempt_at <= now() RETURNING id, feed_id, tx, type, customer_id, workflow_id, patient_id, sequence, created_at, body, delivery_status, attempts, next_attempt_at, last_attempt_at, last_status_code, last_error, delivered_at;
-- sqlc: WorkflowGetByID
SELECT id, customer_id, patient_id, request_type, status, outcome, reason, webhook_url, attempt, created_at, updated_at, ended_at, search_id, reconcile_count FROM workflows WHERE id = :wf;
-- sqlc: CustomerGetByID
SELECT id, name, status, webhook_url, webhook_secret, created_at, updated_at, webhook_secret_previous, webhook_previous_until
FROM customers WHERE id = :customer;
BEGIN;
-- sqlc: EventRecordAttempt
WITH d AS (INSERT INTO webhook_deliveries (workflow_id, customer_id, event_id, attempt, target_host, status_code, error, latency_ms, delivered) SELECT ev.workflow_id, ev.customer_id, ev.id, 1, '127.0.0.1:9', 204, NULL::text, 0, true FROM events AS ev WHERE ev.id = 'msg_' || replace(:wf, '-', '') RETURNING id) UPDATE events AS e SET delivery_status = 'delivered', next_attempt_at = NULL::timestamptz, last_status_code = 204, last_error = NULL::text, delivered_at = CASE WHEN 'delivered'::text = 'delivered' THEN now() ELSE e.delivered_at END FROM d WHERE e.id = 'msg_' || replace(:wf, '-', '') AND e.attempts = 1 AND e.delivery_status = 'pending';
-- sqlc: EventGetLatestForWorkflow
SELECT id, feed_id, tx, type, customer_id, workflow_id, patient_id, sequence, created_at, body, delivery_status, attempts, next_attempt_at, last_attempt_at, last_status_code, last_error, delivered_at FROM events WHERE workflow_id = :wf AND type = 'link.completed' ORDER BY sequence DESC LIMIT 1;
-- sqlc: WorkflowTransition to COMPLETED
WITH old AS (SELECT cur.id, cur.status FROM workflows AS cur WHERE cur.id = :wf FOR UPDATE), w AS (UPDATE workflows AS wf SET status = 'COMPLETED', outcome = COALESCE(NULL::text, wf.outcome), reason = CASE WHEN 'COMPLETED'::text = 'FAILED' THEN NULL::text END, search_id = COALESCE(NULL::text, wf.search_id), attempt = wf.attempt + 0::int, updated_at = now(), ended_at = CASE WHEN 'COMPLETED'::text IN ('COMPLETED', 'FAILED') THEN now() END FROM old WHERE wf.id = old.id AND old.status = ANY(ARRAY['LINKED','NO_RESULTS','AMBIGUOUS','CONFLICT']::text[]) RETURNING wf.*, old.status AS from_status), e AS (INSERT INTO workflow_events (workflow_id, customer_id, request_type, from_status, to_status, reason, attempt, actor) SELECT w.id, w.customer_id, w.request_type, w.from_status, w.status, NULL::text, 1, NULL::text FROM w) SELECT id, customer_id, patient_id, request_type, status, outcome, reason, webhook_url, attempt, created_at, updated_at, ended_at, search_id, reconcile_count, from_status FROM w;
WITH job_input AS (
    SELECT
        unnest(ARRAY[:hook_id]::bigint[])                     AS id,
        unnest(ARRAY[false]::boolean[])      AS attempt_do_update,
        unnest(ARRAY[0]::int[])                    AS attempt,
        unnest(ARRAY[false]::boolean[])       AS errors_do_update,
        unnest(ARRAY[NULL]::jsonb[])                   AS errors,
        unnest(ARRAY[true]::boolean[]) AS finalized_at_do_update,
        unnest(ARRAY[now()]::timestamptz[])       AS finalized_at,
        unnest(ARRAY[false]::boolean[])      AS metadata_do_merge,
        unnest(ARRAY[NULL]::jsonb[])         AS metadata_updates,
        unnest(ARRAY[false]::boolean[]) AS scheduled_at_do_update,
        unnest(ARRAY['0001-01-01 00:00:00+00']::timestamptz[])       AS scheduled_at,
        unnest(ARRAY['completed']::text[])::river_job_state AS state
),
updated AS (
    UPDATE river_job
    SET
        attempt = CASE
            WHEN river_job.state = 'running'
                 AND NOT (job_input.state IN ('available','retryable','scheduled') AND river_job.metadata ? 'cancel_attempted_at')
                 AND job_input.attempt_do_update
            THEN job_input.attempt
            ELSE river_job.attempt
        END,
        errors = CASE
            WHEN river_job.state = 'running'
                 AND job_input.errors_do_update
            THEN array_append(river_job.errors, job_input.errors)
            ELSE river_job.errors
        END,
        finalized_at = CASE
            WHEN river_job.state = 'running'
                 AND (job_input.state IN ('available','retryable','scheduled') AND river_job.metadata ? 'cancel_attempted_at')
            THEN coalesce(NULL::timestamptz, now())
            WHEN river_job.state = 'running'
                 AND job_input.finalized_at_do_update
            THEN job_input.finalized_at
            ELSE river_job.finalized_at
        END,
        metadata = CASE
            WHEN job_input.metadata_do_merge
            THEN river_job.metadata || job_input.metadata_updates
            ELSE river_job.metadata
        END,
        scheduled_at = CASE
            WHEN river_job.state = 'running'
                 AND NOT (job_input.state IN ('available','retryable','scheduled') AND river_job.metadata ? 'cancel_attempted_at')
                 AND job_input.scheduled_at_do_update
            THEN job_input.scheduled_at
            ELSE river_job.scheduled_at
        END,
        state = CASE
            WHEN river_job.state = 'running'
                 AND (job_input.state IN ('available','retryable','scheduled') AND river_job.metadata ? 'cancel_attempted_at')
            THEN 'cancelled'::river_job_state
            WHEN river_job.state = 'running'
            THEN job_input.state
            ELSE river_job.state
        END
    FROM job_input
    WHERE river_job.id = job_input.id
      AND (river_job.state = 'running' OR job_input.metadata_do_merge)
    RETURNING river_job.id, river_job.args, river_job.attempt, river_job.attempted_at, river_job.attempted_by, river_job.created_at, river_job.errors, river_job.finalized_at, river_job.kind, river_job.max_attempts, river_job.metadata, river_job.priority, river_job.queue, river_job.state, river_job.scheduled_at, river_job.tags, river_job.unique_key, river_job.unique_states
)
SELECT river_job.id, river_job.args, river_job.attempt, river_job.attempted_at, river_job.attempted_by, river_job.created_at, river_job.errors, river_job.finalized_at, river_job.kind, river_job.max_attempts, river_job.metadata, river_job.priority, river_job.queue, river_job.state, river_job.scheduled_at, river_job.tags, river_job.unique_key, river_job.unique_states
FROM river_job
JOIN job_input ON river_job.id = job_input.id
WHERE NOT EXISTS (
    SELECT 1
    FROM updated
    WHERE updated.id = river_job.id
)
UNION ALL
SELECT id, args, attempt, attempted_at, attempted_by, created_at, errors, finalized_at, kind, max_attempts, metadata, priority, queue, state, scheduled_at, tags, unique_key, unique_states
FROM updated
ORDER BY id;
COMMIT;
-- Not replayed: River's completer later re-sends each completion in a
-- batch that changes no row (state is no longer running).
