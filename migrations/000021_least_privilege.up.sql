-- Least privilege (issue 15): customer tokens with ids that can be revoked,
-- webhook signing secrets sealed, and a role for River UI.

-- Every customer token issued since this migration, by its id (the JWT's
-- jti). A token whose id is absent or revoked is refused.
CREATE TABLE customer_tokens (
    id          uuid PRIMARY KEY,
    customer_id uuid NOT NULL REFERENCES customers (id),
    issued_at   timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz
);
CREATE INDEX customer_tokens_customer ON customer_tokens (customer_id, issued_at);

-- Webhook signing secrets are sealed with the data keyring
-- ("sealed:<key id>:<base64>"), the customer id as additional data. Rows
-- from before hold them in plain text until the service seals them (the
-- purge-idempotency job does, at its next run); NOT VALID leaves those
-- rows alone and checks every new write.
ALTER TABLE customers
    ADD CONSTRAINT customers_webhook_secret_sealed CHECK (webhook_secret LIKE 'sealed:%') NOT VALID,
    ADD CONSTRAINT customers_webhook_secret_previous_sealed
        CHECK (webhook_secret_previous IS NULL OR webhook_secret_previous LIKE 'sealed:%') NOT VALID;

-- River UI's group role: River's tables and nothing else (no customer,
-- payload, mapping or history). Created when missing, never dropped by
-- the down migration (roles belong to the cluster), like 000012's.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'patientlink_riverui') THEN
        CREATE ROLE patientlink_riverui NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END $$;

GRANT USAGE ON SCHEMA public TO patientlink_riverui;
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT c.relname, c.relkind FROM pg_catalog.pg_class AS c
             JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
             WHERE n.nspname = 'public' AND c.relname LIKE 'river\_%' AND c.relkind IN ('r', 'S')
    LOOP
        IF r.relkind = 'S' THEN
            EXECUTE format('GRANT USAGE, SELECT ON SEQUENCE public.%I TO patientlink_riverui', r.relname);
        ELSE
            EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON public.%I TO patientlink_riverui', r.relname);
        END IF;
    END LOOP;
END $$;
GRANT EXECUTE ON FUNCTION river_job_state_in_bitmask(bit, river_job_state) TO patientlink_riverui;
