#!/bin/sh
# compose.yaml's PostgreSQL, first start only (docker-entrypoint-initdb.d):
# the logins, each with the least it needs, and the database the owner
# migrates. Passwords come from the environment compose passes (each
# required there); they go to psql as variables, never into this file.
#
#   patientlink_owner       owns the database and the schema; runs `migrate up`
#   patientlink_service     in patientlink_app: the api and worker processes
#   patientlink_riverui_web in patientlink_riverui: River UI, River's tables only
#   patientlink_audit       in patientlink_auditor: read-only, the audit schema only
#
# The group roles are made here so the owner needs no CREATEROLE
# (migrations 000012 and 000021 make them only when missing).
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -v owner_pw="$PATIENTLINK_OWNER_DB_PASSWORD" \
  -v app_pw="$PATIENTLINK_APP_DB_PASSWORD" \
  -v riverui_pw="$PATIENTLINK_RIVERUI_DB_PASSWORD" \
  -v auditor_pw="$PATIENTLINK_AUDITOR_DB_PASSWORD" <<'SQL'
CREATE ROLE patientlink_app NOLOGIN;
CREATE ROLE patientlink_auditor NOLOGIN;
CREATE ROLE patientlink_riverui NOLOGIN;

CREATE ROLE patientlink_owner LOGIN PASSWORD :'owner_pw';
CREATE ROLE patientlink_service LOGIN PASSWORD :'app_pw' IN ROLE patientlink_app;
CREATE ROLE patientlink_riverui_web LOGIN PASSWORD :'riverui_pw' IN ROLE patientlink_riverui;
CREATE ROLE patientlink_audit LOGIN PASSWORD :'auditor_pw' IN ROLE patientlink_auditor;
ALTER ROLE patientlink_audit SET default_transaction_read_only = on;
ALTER ROLE patientlink_audit SET statement_timeout = '5min';

CREATE DATABASE patientlink OWNER patientlink_owner;
REVOKE ALL ON DATABASE patientlink FROM PUBLIC;
GRANT CONNECT ON DATABASE patientlink TO patientlink_owner, patientlink_app, patientlink_auditor, patientlink_riverui;
SQL
