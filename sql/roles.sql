-- patientlink's database roles: how an operator creates the logins.
--
-- This file is for people: read it, adapt the names, and run the parts you
-- need with psql as a role that has CREATEROLE (e.g. postgres). It is not
-- a migration and nothing runs it automatically.
--
-- The roles
--
--   (migrator)           Runs `patientlink migrate up`. Owns the schema: every
--                        table, view and function. Use the database's owner.
--                        Migration 000012 creates the two group roles below
--                        when they are missing, which needs CREATEROLE; an
--                        operator may instead create them beforehand (the
--                        statements are at the end of this file) and the
--                        migrator then needs no CREATEROLE.
--
--   patientlink_app      NOLOGIN group role of the service (`patientlink serve`
--                        and its workers). SELECT, INSERT, UPDATE, DELETE on
--                        the tables of schema public and USAGE on their
--                        sequences, tables of later migrations included
--                        (default privileges of the migrator); no DDL, no
--                        TRUNCATE, nothing in schema audit; it reads but
--                        cannot write schema_migrations and
--                        workflow_transitions (migration 000020). The history
--                        tables (workflow_events, mapping_events,
--                        webhook_deliveries, reconciliation_reports) refuse
--                        its UPDATE and DELETE through their triggers, as
--                        they refuse everyone's.
--
--   patientlink_riverui  NOLOGIN group role of River UI (migration 000021):
--                        SELECT, INSERT, UPDATE, DELETE on River's tables
--                        (river_*) and nothing else: no customer, payload,
--                        mapping, history or schema_migrations.
--
--   patientlink_auditor  NOLOGIN group role of auditors. USAGE on schema audit,
--                        SELECT on its views, EXECUTE on audit.mapping_as_of;
--                        nothing in schema public (permission denied on every
--                        table, the sealed payloads included). See
--                        docs/auditing.md.
--
-- Roles belong to the cluster, not to one database: one set of logins
-- serves every patientlink database of the cluster. The migrations'
-- grants are per database: run the migrations in each.
--
-- Both group roles connect through PUBLIC's default CONNECT on the
-- database. If you revoked that, grant it back to them:
--
--   GRANT CONNECT ON DATABASE patientlink TO patientlink_app, patientlink_auditor;


-- The service's login ----------------------------------------------------
--
-- One login for the service, in the app group. Put its password in the
-- service's DATABASE_URL (a secret store, not a shell history). Set the
-- password with psql's \password rather than in the statement: a literal
-- password lands in the server log when statements are logged.

CREATE ROLE patientlink_service LOGIN IN ROLE patientlink_app;
-- \password patientlink_service

-- Optional limits for the service's login:
-- ALTER ROLE patientlink_service CONNECTION LIMIT 50;


-- An auditor's login ------------------------------------------------------
--
-- One login per person, so the server's logs say who looked. The login
-- gets the group's rights and nothing else. Give it an end date.

-- No password in the statement: set it with psql's \password, which sends
-- it hashed and keeps it out of the server log and the shell history.
CREATE ROLE alice LOGIN VALID UNTIL '2026-12-31' IN ROLE patientlink_auditor;
-- \password alice

-- Settings are per login (a group role's settings are not inherited), so
-- make the auditor's sessions read-only and bounded on the login itself:
ALTER ROLE alice SET default_transaction_read_only = on;
ALTER ROLE alice SET statement_timeout = '5min';
ALTER ROLE alice CONNECTION LIMIT 2;

-- When the audit ends:
--   ALTER ROLE alice NOLOGIN;   -- keeps the name for the logs
--   DROP ROLE alice;            -- or removes it (it owns nothing)


-- The group roles ----------------------------------------------------------
--
-- What migration 000012 does when they are missing. Run these beforehand
-- only if the migrator has no CREATEROLE. The down migration never drops
-- them (other databases may use them); to remove them for good, after every
-- database dropped its objects and grants (migrate down past 000012, or
-- DROP OWNED BY ... in each database):
--   DROP ROLE patientlink_auditor;
--   DROP ROLE patientlink_app;

-- CREATE ROLE patientlink_app NOLOGIN;
-- CREATE ROLE patientlink_auditor NOLOGIN;
-- CREATE ROLE patientlink_riverui NOLOGIN;   (migration 000021)


-- River UI's login --------------------------------------------------------

CREATE ROLE patientlink_riverui_web LOGIN IN ROLE patientlink_riverui;
-- \password patientlink_riverui_web
