-- The customer's mapping queries (GET /mappings, GET /patients, GET
-- /patient/{id}/history): each one indexed read.

-- When a mapping last changed: the start of the transaction that linked or
-- de-linked it (now()), so GET /mappings can list only rows whose
-- transactions have all ended (see MappingListHorizon).
ALTER TABLE patient_mappings ADD COLUMN updated_at timestamptz;
UPDATE patient_mappings SET updated_at = COALESCE(delinked_at, linked_at);
ALTER TABLE patient_mappings
    ALTER COLUMN updated_at SET DEFAULT now(),
    ALTER COLUMN updated_at SET NOT NULL;

-- The start of the oldest transaction still running in this database
-- (now() if none): every transaction that started earlier has ended, so a
-- mapping it changed is visible to any later statement. GET /mappings lists
-- only mappings changed before it, read in a statement before the list's, so
-- a transaction that commits late never lands behind a cursor. It sees the
-- sessions of the service's own role (others need pg_read_all_stats); a
-- session idle in a transaction holds it back, as it holds back the events
-- feed.
CREATE FUNCTION mapping_list_horizon() RETURNS timestamptz
LANGUAGE sql VOLATILE AS $$
    SELECT LEAST(now(), (
        SELECT min(a.xact_start) FROM pg_stat_activity AS a
        WHERE a.datname = current_database() AND a.backend_type = 'client backend'
          AND a.pid <> pg_backend_pid()
    ))
$$;

-- GET /mappings: keyset on (updated_at, id), with and without a status.
CREATE INDEX patient_mappings_updated ON patient_mappings (customer_id, updated_at, id);
CREATE INDEX patient_mappings_status_updated ON patient_mappings (customer_id, status, updated_at, id);
-- GET /patients?internal-patient-id=…&include=history (the LINKED one alone
-- uses patient_mappings_linked_internal).
CREATE INDEX patient_mappings_internal ON patient_mappings (customer_id, internal_patient_id, id);
