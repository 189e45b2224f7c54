-- name: EventCreate :one
-- Numbers the patient's next event and inserts it with its frozen body, in
-- one statement. The sequence row stays locked until the transaction ends,
-- so a patient's numbers follow commit order. The body is data plus the
-- event's id, type, time and sequence; delivery is pending when the
-- workflow or its customer has a webhook URL, else none (feed only).
WITH seq AS (
    INSERT INTO patient_event_sequences AS s (customer_id, patient_id, last)
    VALUES (@customer_id, @patient_id, 1)
    ON CONFLICT (customer_id, patient_id) DO UPDATE SET last = s.last + 1
    RETURNING s.last
), target AS (
    SELECT COALESCE(w.webhook_url, c.webhook_url, '') AS url
    FROM workflows AS w JOIN customers AS c ON c.id = w.customer_id
    WHERE w.id = @workflow_id
)
INSERT INTO events (id, type, customer_id, workflow_id, patient_id, sequence, created_at, body, delivery_status, next_attempt_at)
SELECT @id, @type, @customer_id, @workflow_id, @patient_id, seq.last, now(),
       convert_to(jsonb_build_object(
           'id', @id::text,
           'type', @type::text,
           -- RFC 3339 in UTC; written without a "HH24:MI" format so the
           -- pgbench replay (which reads ":MI" as a variable) can copy it.
           'timestamp', (to_jsonb(now() AT TIME ZONE 'UTC') #>> '{}') || 'Z',
           'data', @data::jsonb || jsonb_build_object('sequence', seq.last)
       )::text, 'UTF8'),
       CASE WHEN target.url <> '' THEN 'pending' ELSE 'none' END,
       CASE WHEN target.url <> '' THEN now() END
FROM seq, target
RETURNING *;

-- name: EventGetByID :one
SELECT * FROM events WHERE id = @id;

-- name: EventLock :one
-- Locks an event for an operator's or a customer's action.
SELECT * FROM events WHERE id = @id FOR UPDATE;

-- name: EventGetLatestForWorkflow :one
-- A workflow's latest event of one type.
SELECT * FROM events WHERE workflow_id = @workflow_id AND type = @type ORDER BY sequence DESC LIMIT 1;

-- name: EventGetLastForWorkflow :one
-- A workflow's latest event of any type.
SELECT * FROM events WHERE workflow_id = @workflow_id ORDER BY sequence DESC LIMIT 1;

-- name: EventClaimAttempt :one
-- Takes the next attempt of a due, pending delivery: the attempt is counted
-- and next_attempt_at moves a lease ahead, so a second job (a River UI
-- retry, a rescued job) finds nothing due and sends nothing meanwhile.
UPDATE events AS e
SET attempts        = e.attempts + 1,
    next_attempt_at = now() + make_interval(secs => @lease_seconds::float8),
    last_attempt_at = now()
WHERE e.id = @id AND e.delivery_status = 'pending' AND e.next_attempt_at <= now()
RETURNING *;

-- name: EventRecordAttempt :exec
-- Logs an attempt, and moves the event on unless a redelivery restarted it
-- while the attempt was in flight.
WITH d AS (
    INSERT INTO webhook_deliveries (workflow_id, customer_id, event_id, attempt, target_host, status_code, error, latency_ms, delivered)
    SELECT ev.workflow_id, ev.customer_id, ev.id, @attempt, @target_host, sqlc.narg(status_code), sqlc.narg(error), @latency_ms, @delivered
    FROM events AS ev WHERE ev.id = @id
    RETURNING id
)
UPDATE events AS e
SET delivery_status  = @delivery_status,
    next_attempt_at  = sqlc.narg(next_attempt_at),
    last_status_code = sqlc.narg(status_code),
    last_error       = sqlc.narg(error),
    delivered_at     = CASE WHEN @delivery_status::text = 'delivered' THEN now() ELSE e.delivered_at END
FROM d
WHERE e.id = @id AND e.attempts = @attempt AND e.delivery_status = 'pending';

-- name: EventSetDelivery :one
-- Starts a delivery again (a redelivery), or records that there is nowhere
-- to deliver.
UPDATE events
SET delivery_status = @delivery_status,
    attempts        = 0,
    next_attempt_at = CASE WHEN @delivery_status::text = 'pending' THEN now() END
WHERE id = @id
RETURNING *;

-- name: EventListFeed :many
-- A customer's events after a cursor, oldest first. Only events whose
-- transaction is older than every running one are listed: an event that
-- commits later has a later tx, so a cursor never skips it.
SELECT e.* FROM events AS e
WHERE e.customer_id = @customer_id
  AND (e.tx, e.feed_id) > (@after_tx::bigint, @after_feed_id::bigint)
  AND e.tx < pg_snapshot_xmin(pg_current_snapshot())::text::bigint
ORDER BY e.tx, e.feed_id
LIMIT @max_rows;

-- name: EventListStuck :many
-- Pending deliveries whose job was lost: due for longer than
-- older_than_seconds with no live River job. Locked, skipping rows another
-- reconciler holds.
SELECT e.* FROM events AS e
WHERE e.delivery_status = 'pending'
  AND e.next_attempt_at < now() - make_interval(secs => @older_than_seconds::float8)
  AND NOT EXISTS (
      SELECT 1 FROM river_job AS j
      WHERE j.args @> jsonb_build_object('event_id', e.id)
        AND j.state IN ('available', 'pending', 'running', 'retryable', 'scheduled')
  )
ORDER BY e.next_attempt_at
LIMIT @max_rows
FOR UPDATE OF e SKIP LOCKED;

-- name: EventClaimAttemptForSend :one
-- EventClaimAttempt with what the attempt needs besides the event: its
-- workflow and its customer (webhook URL, signing secrets), read in the
-- claiming statement instead of two more.
UPDATE events AS e
SET attempts        = e.attempts + 1,
    next_attempt_at = now() + make_interval(secs => @lease_seconds::float8),
    last_attempt_at = now()
FROM workflows AS w, customers AS c
WHERE e.id = @id AND e.delivery_status = 'pending' AND e.next_attempt_at <= now()
  AND w.id = e.workflow_id AND c.id = e.customer_id
RETURNING e.*,
    w.customer_id AS w_customer_id, w.patient_id AS w_patient_id, w.request_type AS w_request_type,
    w.status AS w_status, w.outcome AS w_outcome, w.reason AS w_reason, w.webhook_url AS w_webhook_url,
    w.attempt AS w_attempt, w.created_at AS w_created_at, w.updated_at AS w_updated_at,
    w.ended_at AS w_ended_at, w.search_id AS w_search_id, w.reconcile_count AS w_reconcile_count,
    c.name AS c_name, c.status AS c_status, c.webhook_url AS c_webhook_url, c.webhook_secret AS c_webhook_secret,
    c.created_at AS c_created_at, c.updated_at AS c_updated_at,
    c.webhook_secret_previous AS c_webhook_secret_previous, c.webhook_previous_until AS c_webhook_previous_until;
