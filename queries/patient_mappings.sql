-- name: MappingLink :one
-- Links a patient, with its history event. No row back: a LINKED mapping
-- already holds the patient or the internal patient (or this workflow
-- linked before): the caller records CONFLICT or nothing.
WITH m AS (
    INSERT INTO patient_mappings (customer_id, customer_patient_id, internal_patient_id, status, score, workflow_id, link_source, linked_by)
    VALUES (@customer_id, @customer_patient_id, @internal_patient_id, 'LINKED', @score, @workflow_id, @link_source, sqlc.narg(linked_by))
    ON CONFLICT DO NOTHING
    RETURNING *
), e AS (
    INSERT INTO mapping_events (mapping_id, customer_id, customer_patient_id, internal_patient_id, status, workflow_id, request_type, link_source, actor)
    SELECT m.id, m.customer_id, m.customer_patient_id, m.internal_patient_id, m.status, m.workflow_id, 'LINK', m.link_source, m.linked_by FROM m
)
SELECT * FROM m;

-- name: MappingDelink :one
-- De-links the patient's LINKED mapping, with its history event.
WITH m AS (
    UPDATE patient_mappings AS pm
    SET status = 'DE-LINKED', delinked_at = now(), updated_at = now(), delink_workflow_id = @workflow_id
    WHERE pm.customer_id = @customer_id AND pm.customer_patient_id = @customer_patient_id AND pm.status = 'LINKED'
    RETURNING pm.*
), e AS (
    INSERT INTO mapping_events (mapping_id, customer_id, customer_patient_id, internal_patient_id, status, workflow_id, request_type)
    SELECT m.id, m.customer_id, m.customer_patient_id, m.internal_patient_id, m.status, @workflow_id, 'DELINK' FROM m
)
SELECT * FROM m;

-- name: MappingGetLatest :one
-- The patient's current mapping: the LINKED one, else the latest.
SELECT * FROM patient_mappings
WHERE customer_id = @customer_id AND customer_patient_id = @customer_patient_id
ORDER BY (status = 'LINKED') DESC, id DESC
LIMIT 1;

-- name: MappingGetLinkedByInternal :one
-- Which of the customer's patients holds an internal patient now.
SELECT * FROM patient_mappings
WHERE customer_id = @customer_id AND internal_patient_id = @internal_patient_id AND status = 'LINKED';

-- name: MappingListHorizon :one
-- Read it before MappingList, in an earlier statement (migration 000030).
SELECT mapping_list_horizon()::timestamptz AS horizon;

-- name: MappingList :many
-- A customer's mappings after a keyset position, by update time then id,
-- changed before the horizon (patient_mappings_updated).
SELECT * FROM patient_mappings
WHERE customer_id = @customer_id
  AND (updated_at, id) > (@after_updated_at::timestamptz, @after_id::bigint)
  AND updated_at < @before::timestamptz
ORDER BY updated_at, id
LIMIT @max_rows;

-- name: MappingListByStatus :many
-- MappingList with one status (patient_mappings_status_updated): its own
-- statement, so even a generic plan uses the status index.
SELECT * FROM patient_mappings
WHERE customer_id = @customer_id AND status = @status
  AND (updated_at, id) > (@after_updated_at::timestamptz, @after_id::bigint)
  AND updated_at < @before::timestamptz
ORDER BY updated_at, id
LIMIT @max_rows;

-- name: MappingListByInternal :many
-- The customer's patients mapped to an internal patient, oldest first: the
-- LINKED one, or every mapping with include_history
-- (patient_mappings_internal).
SELECT * FROM patient_mappings
WHERE customer_id = @customer_id AND internal_patient_id = @internal_patient_id
  AND (status = 'LINKED' OR @include_history::boolean)
ORDER BY id
LIMIT @max_rows;
