"""The TimescaleDB container's init script (docker/initdb/010-hr-roles.sh) on a real server.

The script runs as the image runs it (bash, psql, the image's environment), then the project runs
as compose runs it: `hr setup` and a Dagster backfill as the owner role with Dagster's storage in
its own database, and the API's role reads what they loaded and can change none of it. Once on the
embedded PostgreSQL (PostgreSQL mode), once on TimescaleDB when ``HR_TEST_TIMESCALE_URL`` names a
server (hypertable, continuous aggregates and their chunks read through the read-only role).
"""

from __future__ import annotations

import uuid

import psycopg
import pytest
from psycopg import errors, sql

from hr_assets.local import localdb
from hr_assets_tests.deploy.deploy_helpers import (
    Provisioned,
    init_script_env,
    new_passwords,
    run_init_script,
)

WAREHOUSE_TABLES = [
    "users",
    "activities_heart_intraday",
    "activities_heart_summary",
    "activities_heart_intraday_1m",
    "activities_heart_intraday_1h",
    "activities_heart_intraday_1d",
    "partition_loads",
    "quarantine",
    "schema_migrations",
    # Created by a migration after the roles: the API's keys and the exact local-day view.
    "api_keys",
    "activities_heart_daily",
]


def test_owner_role_migrated_loaded_and_owns_the_warehouse(deployment: Provisioned) -> None:
    with psycopg.connect(deployment.owner_url) as conn:
        owners = conn.execute("SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'").fetchall()
        readings = conn.execute("SELECT count(*) FROM activities_heart_intraday WHERE user_id = 'alice'").fetchone()
        superuser = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()
    assert owners == [("hr_owner",)]
    assert readings is not None and readings[0] > 1000
    assert superuser == (False,)


def test_dagster_storage_lives_in_its_own_database_owned_by_its_role(deployment: Provisioned) -> None:
    with psycopg.connect(deployment.dagster_url) as conn:
        tables = dict(
            conn.execute("SELECT tablename, tableowner FROM pg_tables WHERE schemaname = 'public'").fetchall()
        )
        runs = conn.execute("SELECT count(*) FROM runs").fetchone()
    assert {"runs", "event_logs", "instigators"} <= set(tables)
    assert set(tables.values()) == {"dagster"}
    assert runs is not None and runs[0] >= 1
    with psycopg.connect(deployment.owner_url) as conn:
        dagster_tables = conn.execute("SELECT count(*) FROM pg_tables WHERE tablename = 'event_logs'").fetchone()
    assert dagster_tables == (0,), "Dagster's tables must not be in the warehouse"


def test_reader_reads_every_warehouse_relation(deployment: Provisioned) -> None:
    with psycopg.connect(deployment.reader_url) as conn:
        counts = {
            table: conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))).fetchone()
            for table in WAREHOUSE_TABLES
        }
        hourly = conn.execute(
            "SELECT sum(sample_count) FROM activities_heart_intraday_1h WHERE user_id = 'alice'"
        ).fetchone()
        raw = conn.execute("SELECT count(*) FROM activities_heart_intraday WHERE user_id = 'alice'").fetchone()
    assert counts["users"] == (1,)
    assert raw is not None and raw[0] > 1000
    assert hourly is not None and hourly[0] == raw[0], "the aggregates the reader sees cover the raw readings"


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO activities_heart_intraday (user_id, time, bpm) VALUES ('alice', now(), 70)",
        "UPDATE activities_heart_intraday SET bpm = 1 WHERE user_id = 'alice'",
        "DELETE FROM activities_heart_intraday WHERE user_id = 'alice'",
        "TRUNCATE activities_heart_intraday",
        "UPDATE users SET display_name = 'mallory'",
        "DELETE FROM schema_migrations",
        "CREATE TABLE planted (id int)",
        "DROP TABLE activities_heart_summary",
    ],
)
def test_reader_cannot_change_the_warehouse(deployment: Provisioned, statement: str) -> None:
    with psycopg.connect(deployment.reader_url, autocommit=True) as conn:
        with pytest.raises(errors.ReadOnlySqlTransaction):
            conn.execute(statement)
        # Not only the read-only default: without it the privileges refuse the same statement.
        conn.execute("SET default_transaction_read_only = off")
        with pytest.raises((errors.InsufficientPrivilege, errors.ReadOnlySqlTransaction)) as refused:
            conn.execute(statement)
        assert isinstance(refused.value, errors.InsufficientPrivilege)
    with psycopg.connect(deployment.owner_url) as conn:
        left = conn.execute("SELECT count(*) FROM activities_heart_intraday WHERE user_id = 'alice'").fetchone()
    assert left is not None and left[0] > 1000


def test_reader_reads_a_table_a_later_migration_creates(deployment: Provisioned) -> None:
    with psycopg.connect(deployment.owner_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE later_migration (id int PRIMARY KEY)")
        conn.execute("INSERT INTO later_migration VALUES (1), (2)")
    try:
        with psycopg.connect(deployment.reader_url) as conn:
            assert conn.execute("SELECT count(*) FROM later_migration").fetchone() == (2,)
    finally:
        with psycopg.connect(deployment.owner_url, autocommit=True) as conn:
            conn.execute("DROP TABLE later_migration")


def test_each_database_is_closed_to_the_other_roles(deployment: Provisioned) -> None:
    for role, database in [
        ("hr_reader", deployment.dagster_db),
        ("hr_owner", deployment.dagster_db),
        ("dagster", deployment.warehouse_db),
    ]:
        with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
            psycopg.connect(deployment.url(role, database)).close()


def test_monitor_role_sees_server_statistics_and_reads_the_warehouse(deployment: Provisioned) -> None:
    with psycopg.connect(deployment.url("hr_monitor")) as conn:
        sizes = dict(
            conn.execute(
                "SELECT datname, pg_database_size(datname) FROM pg_database WHERE datname = ANY(%s)",
                ([deployment.warehouse_db, deployment.dagster_db],),
            ).fetchall()
        )
        users = conn.execute("SELECT count(*) FROM users").fetchone()
        with pytest.raises(errors.ReadOnlySqlTransaction):
            conn.execute("DELETE FROM users")
    assert set(sizes) == {deployment.warehouse_db, deployment.dagster_db} and min(sizes.values()) > 0
    assert users == (1,)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("HR_DB_READER_PASSWORD", "", "HR_DB_READER_PASSWORD is not set"),
        ("HR_DB_OWNER_PASSWORD", "p@ss:word/with-url-syntax", "HR_DB_OWNER_PASSWORD must be at least 12 URL-safe"),
        ("HR_DAGSTER_DB_PASSWORD", "short", "HR_DAGSTER_DB_PASSWORD must be at least 12 URL-safe"),
        ("HR_WAREHOUSE_DB", "hr; DROP DATABASE postgres", "is not a plain lower-case identifier"),
    ],
)
def test_script_refuses_bad_settings_before_touching_the_server(
    pg_server: localdb.LocalServer, variable: str, value: str, message: str
) -> None:
    name = f"hr_refused_{uuid.uuid4().hex[:8]}"
    env = init_script_env(pg_server.url(), name, f"{name}_dagster", new_passwords())
    env[variable] = value
    done = run_init_script(env)
    assert done.returncode != 0
    assert message in done.stderr
    with psycopg.connect(pg_server.url()) as conn:
        created = conn.execute("SELECT count(*) FROM pg_database WHERE datname LIKE %s", (f"{name}%",)).fetchone()
    assert created == (0,)
