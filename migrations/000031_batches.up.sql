-- Bulk intake (POST /links): a batch is one request's acknowledgement of up
-- to 1,000 patients. Each accepted patient is an ordinary workflow that
-- points at its batch, so GET /batches/{id} counts workflows by batch.
CREATE TABLE batches (
    id          uuid PRIMARY KEY,
    customer_id uuid NOT NULL REFERENCES customers (id),
    items       integer NOT NULL CHECK (items BETWEEN 1 AND 1000), -- as sent, valid or not
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX batches_customer ON batches (customer_id, created_at);

ALTER TABLE workflows ADD COLUMN batch_id uuid REFERENCES batches (id);
CREATE INDEX workflows_batch ON workflows (batch_id, status) WHERE batch_id IS NOT NULL;
