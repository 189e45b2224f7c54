DROP FUNCTION mapping_list_horizon();
DROP INDEX patient_mappings_internal;
DROP INDEX patient_mappings_status_updated;
DROP INDEX patient_mappings_updated;
ALTER TABLE patient_mappings DROP COLUMN updated_at;
