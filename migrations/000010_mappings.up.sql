-- Mappings between a customer's patient and an internal patient, their
-- append-only history, and what async index searches need.

ALTER TABLE workflows ADD COLUMN search_id text;
CREATE UNIQUE INDEX workflows_search_id ON workflows (search_id) WHERE search_id IS NOT NULL;

CREATE TABLE patient_mappings (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id         uuid NOT NULL REFERENCES customers (id),
    customer_patient_id uuid NOT NULL,
    internal_patient_id text NOT NULL,
    status              text NOT NULL CHECK (status IN ('LINKED', 'DE-LINKED')),
    score               double precision NOT NULL,
    workflow_id         uuid NOT NULL REFERENCES workflows (id), -- the workflow that linked
    linked_at           timestamptz NOT NULL DEFAULT now(),
    delink_workflow_id  uuid REFERENCES workflows (id),
    delinked_at         timestamptz,
    CHECK ((status = 'LINKED') = (delinked_at IS NULL))
);

-- At most one LINKED mapping per customer patient and per internal patient
-- of a customer, enforced here and not just in code.
CREATE UNIQUE INDEX patient_mappings_linked_patient
    ON patient_mappings (customer_id, customer_patient_id) WHERE status = 'LINKED';
CREATE UNIQUE INDEX patient_mappings_linked_internal
    ON patient_mappings (customer_id, internal_patient_id) WHERE status = 'LINKED';
-- A workflow links at most once, however often its job runs.
CREATE UNIQUE INDEX patient_mappings_workflow ON patient_mappings (workflow_id);
CREATE INDEX patient_mappings_patient ON patient_mappings (customer_id, customer_patient_id, id DESC);

-- Every mapping change (LINKED, DE-LINKED), appended in the transaction that
-- makes it: from these rows alone the state of every mapping at any past
-- moment can be rebuilt.
CREATE TABLE mapping_events (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    mapping_id          bigint NOT NULL REFERENCES patient_mappings (id),
    customer_id         uuid NOT NULL,
    customer_patient_id uuid NOT NULL,
    internal_patient_id text NOT NULL,
    status              text NOT NULL CHECK (status IN ('LINKED', 'DE-LINKED')),
    workflow_id         uuid NOT NULL REFERENCES workflows (id),
    request_type        text NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX mapping_events_patient ON mapping_events (customer_id, customer_patient_id, id);
CREATE INDEX mapping_events_created ON mapping_events (created_at);

CREATE TRIGGER mapping_events_append_only
    BEFORE UPDATE OR DELETE ON mapping_events
    FOR EACH ROW EXECUTE FUNCTION reject_history_change();
CREATE TRIGGER mapping_events_no_truncate
    BEFORE TRUNCATE ON mapping_events
    FOR EACH STATEMENT EXECUTE FUNCTION reject_history_change();
