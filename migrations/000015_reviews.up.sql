-- Every decision explained, and the uncertain ones resolved by a person.
--
-- decisions is append-only history: for each outcome (and each manual
-- resolution) the candidates as internal ids with scores and per-field
-- agreement, the policy in force, the margin seen and the rule that
-- decided; no demographics. reviews holds the work queue of AMBIGUOUS and
-- CONFLICT outcomes; its state changes, its history is in decisions and
-- action_history.

CREATE TABLE decisions (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    created_at          timestamptz NOT NULL DEFAULT now(),
    workflow_id         uuid NOT NULL REFERENCES workflows (id),
    customer_id         uuid NOT NULL,
    customer_patient_id uuid NOT NULL,
    outcome             text NOT NULL CHECK (outcome IN ('LINKED', 'NO_RESULTS', 'AMBIGUOUS', 'CONFLICT')),
    rule                text NOT NULL CHECK (rule IN ('auto_link', 'below_threshold', 'margin_too_small', 'no_candidates',
                                                      'internal_patient_taken', 'manual_link', 'manual_no_match')),
    policy_version      text NOT NULL,
    threshold           double precision NOT NULL,
    margin              double precision NOT NULL,
    margin_seen         double precision, -- best minus runner-up; NULL with fewer than two candidates
    -- the top five: [{"internal-patient-id", "score", "matched": {"full_name": "exact", …}}]
    candidates          jsonb NOT NULL CHECK (jsonb_typeof(candidates) = 'array'),
    internal_patient_id text, -- the one linked (LINKED) or taken (CONFLICT)
    conflict_patient_id uuid, -- CONFLICT: the customer's patient that holds it
    review_id           uuid, -- a manual decision's review
    actor               text, -- a manual decision's person
    reason              text
);
CREATE INDEX decisions_workflow ON decisions (workflow_id, id);
CREATE INDEX decisions_manual ON decisions (created_at) WHERE actor IS NOT NULL;
CREATE TRIGGER decisions_append_only
    BEFORE UPDATE OR DELETE ON decisions
    FOR EACH ROW EXECUTE FUNCTION reject_history_change();
CREATE TRIGGER decisions_no_truncate
    BEFORE TRUNCATE ON decisions
    FOR EACH STATEMENT EXECUTE FUNCTION reject_history_change();

CREATE TABLE reviews (
    id                  uuid PRIMARY KEY,
    workflow_id         uuid NOT NULL UNIQUE REFERENCES workflows (id), -- one per workflow
    customer_id         uuid NOT NULL REFERENCES customers (id),
    patient_id          uuid NOT NULL,
    outcome             text NOT NULL CHECK (outcome IN ('AMBIGUOUS', 'CONFLICT')),
    status              text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved', 'superseded')),
    candidates          jsonb NOT NULL CHECK (jsonb_typeof(candidates) = 'array'),
    created_at          timestamptz NOT NULL DEFAULT now(),
    closed_at           timestamptz,
    decision            text CHECK (decision IN ('link', 'no-match')),
    internal_patient_id text,
    actor               text,
    reason              text,
    superseded_by       uuid REFERENCES workflows (id),
    CHECK ((status = 'open') = (closed_at IS NULL)),
    CHECK ((status = 'resolved') = (decision IS NOT NULL))
);
CREATE INDEX reviews_by_status ON reviews (status, created_at, id);
CREATE INDEX reviews_open_patient ON reviews (customer_id, patient_id) WHERE status = 'open';

-- How a mapping came to be: the policy (AUTO) or a person (MANUAL, who).
ALTER TABLE patient_mappings
    ADD COLUMN link_source text NOT NULL DEFAULT 'AUTO' CHECK (link_source IN ('AUTO', 'MANUAL')),
    ADD COLUMN linked_by   text;
ALTER TABLE mapping_events
    ADD COLUMN link_source text,
    ADD COLUMN actor       text;

-- The stuck report names the oldest open reviews too (ids only).
ALTER TABLE reconciliation_reports
    ADD COLUMN open_reviews jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(open_reviews) = 'array');

-- Auditors: every decision with its candidates (internal ids, scores,
-- agreement; never demographics), and the reviews.
CREATE VIEW audit.decisions AS
SELECT d.id, d.created_at, d.workflow_id, d.customer_id, d.customer_patient_id, d.outcome, d.rule,
       d.policy_version, d.threshold, d.margin, d.margin_seen, d.candidates, d.internal_patient_id,
       d.conflict_patient_id, d.review_id, d.actor, d.reason
FROM public.decisions AS d;

CREATE VIEW audit.reviews AS
SELECT r.id, r.created_at, r.workflow_id, r.customer_id, r.patient_id AS customer_patient_id, r.outcome,
       r.status, r.closed_at, r.decision, r.internal_patient_id, r.actor, r.reason, r.superseded_by
FROM public.reviews AS r;

-- Mapping changes say how they were made (AUTO or MANUAL) and by whom.
CREATE OR REPLACE VIEW audit.linkage_history AS
SELECT e.id,
       e.created_at,
       e.customer_id,
       e.customer_patient_id,
       e.internal_patient_id,
       e.status,
       e.mapping_id,
       e.workflow_id,
       e.request_type,
       w.created_at AS request_received_at,
       m.workflow_id AS link_workflow_id,
       m.score,
       e.link_source,
       e.actor
FROM public.mapping_events AS e
JOIN public.workflows AS w ON w.id = e.workflow_id
JOIN public.patient_mappings AS m ON m.id = e.mapping_id;

GRANT SELECT ON audit.decisions, audit.reviews TO patientlink_auditor;
