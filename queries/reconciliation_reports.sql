-- name: ReconciliationReportCreate :one
-- Counts unfinished work by state and age (since acknowledgement) and names
-- the oldest by id: workflows being processed, and those with an outcome
-- whose event is still being delivered (one whose delivery failed is done:
-- the feed and the status API have it). Ids and states only. Also the
-- oldest open reviews, by id.
WITH pending AS (
    SELECT w.id, w.status, now() - w.created_at AS age
    FROM workflows AS w
    WHERE w.status IN ('RECEIVED', 'IN_PROGRESS', 'REQUESTED')
       OR (w.status NOT IN ('COMPLETED', 'FAILED')
           AND EXISTS (SELECT 1 FROM events AS e WHERE e.workflow_id = w.id AND e.delivery_status = 'pending'))
), buckets AS (
    SELECT p.status,
           CASE WHEN p.age < interval '7 minutes' THEN '<7m'
                WHEN p.age < interval '1 hour' THEN '7m-1h'
                WHEN p.age < interval '24 hours' THEN '1h-24h'
                ELSE '>24h' END AS bucket,
           count(*) AS n
    FROM pending AS p
    GROUP BY 1, 2
), by_state AS (
    SELECT s.status, jsonb_object_agg(s.bucket, s.n) AS buckets
    FROM buckets AS s
    GROUP BY s.status
), oldest AS (
    SELECT o.id, o.status, o.age FROM pending AS o ORDER BY o.age DESC LIMIT @oldest_count
), reviews_open AS (
    SELECT rv.id, rv.workflow_id, now() - rv.created_at AS age FROM reviews AS rv
    WHERE rv.status = 'open' ORDER BY rv.created_at LIMIT @oldest_count
)
INSERT INTO reconciliation_reports (pending_total, by_state_age, oldest, open_reviews)
SELECT (SELECT count(*) FROM pending)::int,
       COALESCE((SELECT jsonb_object_agg(b.status, b.buckets) FROM by_state AS b), '{}'::jsonb),
       COALESCE((SELECT jsonb_agg(jsonb_build_object('workflow_id', o.id, 'status', o.status,
                                                     'age_seconds', floor(extract(epoch FROM o.age))::bigint)
                                  ORDER BY o.age DESC)
                 FROM oldest AS o), '[]'::jsonb),
       COALESCE((SELECT jsonb_agg(jsonb_build_object('review_id', r.id, 'workflow_id', r.workflow_id,
                                                     'age_seconds', floor(extract(epoch FROM r.age))::bigint)
                                  ORDER BY r.age DESC)
                 FROM reviews_open AS r), '[]'::jsonb)
RETURNING *;
