#!/usr/bin/env bash
# The roles and databases of hr-pipeline, created when the TimescaleDB container initialises an
# empty data volume (after the image's own scripts have put the extension into template1):
#   hr_owner    owns the warehouse database: migrations and loads (`hr setup`, Dagster's runs)
#   hr_reader   reads the warehouse and nothing else: the query API. SELECT on every table and
#               view, including those later migrations create (default privileges for hr_owner)
#   hr_monitor  the postgres exporter: pg_monitor's statistics plus what hr_reader may read
#   dagster     owns Dagster's database: runs, event logs, schedules
# Nobody else may connect to either database. Passwords come from the environment (.env) and go
# into connection URLs, so they must be URL-safe: at least 12 of A-Z a-z 0-9 . _ ~ -
#
# Safe to run again (existing roles get their password reset, grants are re-applied), for example
# after changing a password in .env:
#   docker compose exec timescaledb /docker-entrypoint-initdb.d/010-hr-roles.sh
# Database names default to hr and dagster (HR_WAREHOUSE_DB, HR_DAGSTER_DB override them).
set -euo pipefail

warehouse_db=${HR_WAREHOUSE_DB:-hr}
dagster_db=${HR_DAGSTER_DB:-dagster}

fail() { echo "010-hr-roles.sh: $*" >&2; exit 1; }
for name in HR_DB_OWNER_PASSWORD HR_DB_READER_PASSWORD HR_DB_MONITOR_PASSWORD HR_DAGSTER_DB_PASSWORD; do
  value=${!name:-}
  [ -n "$value" ] || fail "$name is not set (see .env.example)"
  [[ "$value" =~ ^[A-Za-z0-9._~-]{12,}$ ]] \
    || fail "$name must be at least 12 URL-safe characters (A-Z a-z 0-9 . _ ~ -): it goes into connection URLs"
done
for name in warehouse_db dagster_db; do
  [[ "${!name}" =~ ^[a-z_][a-z0-9_]{0,62}$ ]] || fail "database name ${!name} is not a plain lower-case identifier"
done

# psql fills :'name' (a quoted literal) and :"name" (a quoted identifier) from -v; the script
# itself is quoted ('SQL'), so the shell substitutes nothing in it.
psql -X -q -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-postgres}" \
  -v warehouse_db="$warehouse_db" -v dagster_db="$dagster_db" \
  -v owner_password="$HR_DB_OWNER_PASSWORD" -v reader_password="$HR_DB_READER_PASSWORD" \
  -v monitor_password="$HR_DB_MONITOR_PASSWORD" -v dagster_password="$HR_DAGSTER_DB_PASSWORD" <<'SQL'
SELECT format('CREATE ROLE %I', role) FROM (VALUES ('hr_owner'), ('hr_reader'), ('hr_monitor'), ('dagster')) AS r (role)
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = role) \gexec
ALTER ROLE hr_owner   LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'owner_password';
ALTER ROLE hr_reader  LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'reader_password';
ALTER ROLE hr_monitor LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'monitor_password';
ALTER ROLE dagster    LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'dagster_password';
-- Belt and braces: even a statement the privileges would allow runs in a read-only transaction.
ALTER ROLE hr_reader  SET default_transaction_read_only = on;
ALTER ROLE hr_monitor SET default_transaction_read_only = on;
GRANT pg_monitor, hr_reader TO hr_monitor;

SELECT format('CREATE DATABASE %I OWNER hr_owner', :'warehouse_db')
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'warehouse_db') \gexec
SELECT format('CREATE DATABASE %I OWNER dagster', :'dagster_db')
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'dagster_db') \gexec
ALTER DATABASE :"warehouse_db" OWNER TO hr_owner;
ALTER DATABASE :"dagster_db" OWNER TO dagster;
REVOKE ALL ON DATABASE :"warehouse_db" FROM PUBLIC;
REVOKE ALL ON DATABASE :"dagster_db" FROM PUBLIC;
GRANT CONNECT ON DATABASE :"warehouse_db" TO hr_reader;

\connect :"warehouse_db"
-- The project creates the extension itself when it may; hr_owner may not (it is no superuser),
-- and without it the warehouse would silently be built in PostgreSQL mode.
SELECT 'CREATE EXTENSION IF NOT EXISTS timescaledb'
WHERE EXISTS (SELECT FROM pg_available_extensions WHERE name = 'timescaledb') \gexec
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO hr_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO hr_reader;
ALTER DEFAULT PRIVILEGES FOR ROLE hr_owner IN SCHEMA public GRANT SELECT ON TABLES TO hr_reader;
SQL
echo "010-hr-roles.sh: roles hr_owner, hr_reader, hr_monitor, dagster; databases $warehouse_db, $dagster_db"
