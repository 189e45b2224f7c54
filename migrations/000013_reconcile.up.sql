-- Reconciliation counts how often a workflow was put back to work, so a
-- workflow that never gets anywhere is failed after a limit.
ALTER TABLE workflows ADD COLUMN reconcile_count integer NOT NULL DEFAULT 0;

-- Payload purges look for workflows that ended long ago.
CREATE INDEX workflows_ended_at ON workflows (ended_at) WHERE ended_at IS NOT NULL;
