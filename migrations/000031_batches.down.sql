DROP INDEX workflows_batch;
ALTER TABLE workflows DROP COLUMN batch_id;
DROP TABLE batches;
