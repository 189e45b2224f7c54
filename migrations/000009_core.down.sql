DROP TABLE idempotency_keys;
DROP TABLE request_payloads;
DROP TABLE workflow_events;
DROP FUNCTION reject_history_change();
DROP TABLE workflows;
DROP TABLE customers;
