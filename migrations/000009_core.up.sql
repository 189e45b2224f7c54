-- patientlink's core tables: customers, workflows and their history, the
-- sealed request payloads and idempotency records.

CREATE TABLE customers (
    id             uuid PRIMARY KEY,
    name           text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    status         text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    webhook_url    text NOT NULL,
    webhook_secret text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- The state machine's states live in Go (internal/link); this list must
-- match it, and a test checks that it does.
CREATE TABLE workflows (
    id              uuid PRIMARY KEY,
    customer_id     uuid NOT NULL REFERENCES customers (id),
    patient_id      uuid NOT NULL, -- the customer's patient id
    request_type    text NOT NULL CHECK (request_type IN ('LINK', 'DELINK')),
    status          text NOT NULL CHECK (status IN ('RECEIVED', 'IN_PROGRESS', 'REQUESTED', 'LINKED',
                        'NO_RESULTS', 'AMBIGUOUS', 'CONFLICT', 'DE_LINKED', 'COMPLETED', 'FAILED')),
    outcome         text CHECK (outcome IN ('LINKED', 'NO_RESULTS', 'AMBIGUOUS', 'CONFLICT', 'DE_LINKED')),
    reason          text,
    webhook_url     text, -- per-request override of the customer's URL, same origin
    attempt         integer NOT NULL DEFAULT 1 CHECK (attempt >= 1),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    ended_at        timestamptz
);

-- At most one unfinished workflow per patient of a customer: two intakes
-- racing for one patient cannot both be acknowledged.
CREATE UNIQUE INDEX workflows_one_open_per_patient
    ON workflows (customer_id, patient_id) WHERE status NOT IN ('COMPLETED', 'FAILED');
CREATE INDEX workflows_customer_patient ON workflows (customer_id, patient_id, created_at DESC);
CREATE INDEX workflows_pending_updated ON workflows (updated_at) WHERE status NOT IN ('COMPLETED', 'FAILED');

-- Every transition of a workflow, appended in the transaction that makes it.
CREATE TABLE workflow_events (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workflow_id  uuid NOT NULL REFERENCES workflows (id),
    customer_id  uuid NOT NULL,
    request_type text NOT NULL,
    from_status  text,
    to_status    text NOT NULL,
    reason       text,
    attempt      integer NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX workflow_events_workflow ON workflow_events (workflow_id, id);

-- History is append-only for every role, the application's included.
CREATE FUNCTION reject_history_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'history table % is append-only', TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER workflow_events_append_only
    BEFORE UPDATE OR DELETE ON workflow_events
    FOR EACH ROW EXECUTE FUNCTION reject_history_change();
CREATE TRIGGER workflow_events_no_truncate
    BEFORE TRUNCATE ON workflow_events
    FOR EACH STATEMENT EXECUTE FUNCTION reject_history_change();

-- The request's patient data (PHI), sealed with AES-256-GCM. key_id names
-- the data key so keys can rotate; the workflow id is the AEAD's additional
-- data, so a ciphertext cannot be moved to another workflow.
CREATE TABLE request_payloads (
    workflow_id uuid PRIMARY KEY REFERENCES workflows (id),
    key_id      text NOT NULL,
    sealed      bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Stripe-style idempotency: the first response to (customer, key) is
-- replayed until expires_at.
CREATE TABLE idempotency_keys (
    customer_id     uuid NOT NULL REFERENCES customers (id),
    key             text NOT NULL,
    request_hash    bytea NOT NULL,
    response_status integer NOT NULL,
    response_body   bytea NOT NULL, -- replayed byte for byte
    -- Deferred: the key row is written first in the acknowledgement and is
    -- what serialises requests racing with the same key.
    workflow_id     uuid REFERENCES workflows (id) DEFERRABLE INITIALLY DEFERRED,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    PRIMARY KEY (customer_id, key)
);
CREATE INDEX idempotency_keys_expires ON idempotency_keys (expires_at);
