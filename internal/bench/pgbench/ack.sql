-- The acknowledgement of one POST /link, statement for statement (pgbench -M
-- prepared, like pgx's statement cache). Variables (-D): customer (a
-- customer's uuid), payload_bytes (size of the sealed payload), notify_pct
-- (share of acknowledgements that carry River's debounced insert NOTIFY),
-- queue (River queue of the job: a pgbench_* one, which no service works).
-- A statement under "-- sqlc: Name" copies that query of queries/*.sql;
-- pgbench_sql_test.go fails when the two drift apart.
\set notify random(1, 100)
-- The auth middleware loads the customer, outside the transaction.
-- sqlc: CustomerGetByID
SELECT id, name, status, webhook_url, webhook_secret, created_at, updated_at, webhook_secret_previous, webhook_previous_until
FROM customers WHERE id = :customer;
BEGIN;
-- WorkflowCreateClaimingKey: the key's claim, the workflow, its first
-- history event and the sealed payload in one statement (ids, hash and
-- payload are made here; wf comes back for the job's args).
-- sqlc: WorkflowCreateClaimingKey
WITH v AS (SELECT gen_random_uuid() AS wf), ids AS (SELECT v.wf AS id, md5(v.wf::text || 'patient')::uuid AS patient_id FROM v), k AS (INSERT INTO idempotency_keys AS ik (customer_id, key, request_hash, response_status, response_body, workflow_id, expires_at) SELECT :customer, 'pgbench-' || v.wf, sha256(convert_to(v.wf::text, 'UTF8')), 202, convert_to('{"workflow-id":"' || v.wf || '","status":"RECEIVED"}', 'UTF8'), v.wf, now() + make_interval(secs => 86400::float8) FROM v ON CONFLICT (customer_id, key) DO UPDATE SET request_hash = EXCLUDED.request_hash, response_status = EXCLUDED.response_status, response_body = EXCLUDED.response_body, workflow_id = EXCLUDED.workflow_id, created_at = now(), expires_at = EXCLUDED.expires_at WHERE ik.expires_at <= now() RETURNING ik.created_at), linked AS (SELECT m.workflow_id FROM patient_mappings m, ids WHERE m.customer_id = :customer AND m.customer_patient_id = ids.patient_id AND m.status = 'LINKED'), w AS (INSERT INTO workflows (id, customer_id, patient_id, request_type, status, webhook_url) SELECT ids.id, :customer, ids.patient_id, 'LINK', 'RECEIVED', NULL FROM ids WHERE EXISTS (SELECT 1 FROM k) AND ('LINK'::text = 'LINK') = NOT EXISTS (SELECT 1 FROM linked) RETURNING *), e AS (INSERT INTO workflow_events (workflow_id, customer_id, request_type, from_status, to_status, attempt) SELECT w.id, w.customer_id, w.request_type, NULL, w.status, w.attempt FROM w), p AS (INSERT INTO request_payloads (workflow_id, key_id, sealed) SELECT w.id, '20ed0103668a36fa', substring(decode(repeat(md5(random()::text), 64), 'hex') FROM 1 FOR :payload_bytes) FROM w), r AS (UPDATE reviews AS rv SET status = 'superseded', closed_at = now(), superseded_by = w.id FROM w WHERE rv.customer_id = w.customer_id AND rv.patient_id = w.patient_id AND rv.status = 'open') SELECT (SELECT count(*) FROM k)::int AS claimed, (SELECT count(*) FROM w)::int AS created, COALESCE((SELECT linked.workflow_id FROM linked), '00000000-0000-0000-0000-000000000000'::uuid)::uuid AS linked_workflow_id, (SELECT wf FROM v) AS wf \gset
-- River's JobInsertFastMany, as InsertTx sends it (one job).
WITH raw_job_data AS (
    SELECT
        unnest(ARRAY[0]::bigint[]) AS id,
        unnest(ARRAY[('{"customer_id": "' || :customer || '", "workflow_id": "' || :wf || '", "request_type": "LINK"}')::jsonb]) AS args,
        unnest(ARRAY[now()]::timestamptz[]) AS created_at,
        unnest(ARRAY['link.process']::text[]) AS kind,
        unnest(ARRAY[25]::smallint[]) AS max_attempts,
        unnest(ARRAY['{}'::jsonb]) AS metadata,
        unnest(ARRAY[1]::smallint[]) AS priority,
        unnest(ARRAY[:queue]::text[]) AS queue,
        unnest(ARRAY[now()]::timestamptz[]) AS scheduled_at,
        unnest(ARRAY['available']::text[]) AS state,
        unnest(ARRAY['']::text[]) AS tags,
        unnest(ARRAY[sha256(convert_to('link.process&' || :wf, 'UTF8'))]::bytea[]) AS unique_key,
        unnest(ARRAY[241]::integer[]) AS unique_states
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
    (xmax != 0) AS unique_skipped_as_duplicate \gset job_
-- River's insert NOTIFY, debounced to one per queue per FetchCooldown.
\if :notify <= :notify_pct
WITH topic_to_notify AS (
    SELECT concat(coalesce(NULL::text, current_schema()), '.', 'river_insert'::text) AS topic,
           unnest(ARRAY['{"queue": "' || :queue || '"}']::text[]) AS payload
)
SELECT pg_notify(topic_to_notify.topic, topic_to_notify.payload) FROM topic_to_notify;
\endif
COMMIT;
