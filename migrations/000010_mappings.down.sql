DROP TABLE mapping_events;
DROP TABLE patient_mappings;
DROP INDEX workflows_search_id;
ALTER TABLE workflows DROP COLUMN search_id;
