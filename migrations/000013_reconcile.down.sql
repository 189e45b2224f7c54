DROP INDEX workflows_ended_at;
ALTER TABLE workflows DROP COLUMN reconcile_count;
