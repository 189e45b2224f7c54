-- Undoes 000021 in this database. The role stays (it belongs to the
-- cluster); what this database granted it goes. Sealed secrets stay sealed.

REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM patientlink_riverui;
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM patientlink_riverui;
REVOKE ALL ON FUNCTION river_job_state_in_bitmask(bit, river_job_state) FROM patientlink_riverui;
REVOKE ALL ON SCHEMA public FROM patientlink_riverui;

ALTER TABLE customers
    DROP CONSTRAINT customers_webhook_secret_previous_sealed,
    DROP CONSTRAINT customers_webhook_secret_sealed;

DROP TABLE customer_tokens;
