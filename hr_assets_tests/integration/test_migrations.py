from __future__ import annotations

import threading
from pathlib import Path

import psycopg
import pytest

from hr_assets.warehouse.db import Mode
from hr_assets.warehouse.migrations import MigrationError, discover, migrate

SCHEMA_SNAPSHOT = """
SELECT table_name, column_name, data_type, is_nullable, column_default
FROM information_schema.columns WHERE table_schema = 'public' ORDER BY table_name, ordinal_position
"""


def _snapshot(url: str) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    with psycopg.connect(url) as conn:
        columns = conn.execute(SCHEMA_SNAPSHOT).fetchall()
        applied = conn.execute("SELECT version, name, mode, checksum, applied_at FROM schema_migrations").fetchall()
    return columns, applied


def test_fresh_database_gets_every_postgres_migration(empty_db_url: str) -> None:
    mode, applied = migrate(empty_db_url)
    assert mode is Mode.POSTGRES  # no TimescaleDB on the embedded server
    assert applied == [f"{m.version:04d}_{m.name}" for m in discover(Mode.POSTGRES)]
    with psycopg.connect(empty_db_url) as conn:
        tables = {
            r[0] for r in conn.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")
        }
    assert {
        "users",
        "activities_heart_intraday",
        "activities_heart_summary",
        "quarantine",
        "activities_heart_intraday_1m",
        "activities_heart_intraday_1h",
        "activities_heart_intraday_1d",
        "schema_migrations",
    } <= tables


def test_migrating_twice_changes_nothing(empty_db_url: str) -> None:
    migrate(empty_db_url)
    before = _snapshot(empty_db_url)
    _mode, applied = migrate(empty_db_url)
    assert applied == []
    assert _snapshot(empty_db_url) == before


def test_two_concurrent_migrators_apply_each_version_once(empty_db_url: str) -> None:
    results: list[list[str]] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def run() -> None:
        barrier.wait()
        try:
            results.append(migrate(empty_db_url)[1])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    expected = [f"{m.version:04d}_{m.name}" for m in discover(Mode.POSTGRES)]
    # One of them applied everything, the other found nothing left to do.
    assert sorted(results, key=len) == [[], expected]
    with psycopg.connect(empty_db_url) as conn:
        assert conn.execute("SELECT count(*) FROM schema_migrations").fetchone() == (len(expected),)


def test_mode_specific_files_are_chosen_by_mode() -> None:
    postgres = {p.name for m in discover(Mode.POSTGRES) for p in m.files}
    timescale = {p.name for m in discover(Mode.TIMESCALEDB) for p in m.files}
    assert all(not name.endswith(".timescale.sql") for name in postgres)
    assert all(not name.endswith(".postgres.sql") for name in timescale)
    # The same relations exist in both modes: every postgres-only file has a TimescaleDB twin.
    for name in postgres:
        if name.endswith(".postgres.sql"):
            assert name.replace(".postgres.sql", ".timescale.sql") in timescale


def test_badly_named_migration_is_refused(tmp_path: Path) -> None:
    (tmp_path / "0001_ok.sql").write_text("SELECT 1")
    (tmp_path / "second.sql").write_text("SELECT 1")
    with pytest.raises(MigrationError, match=r"second\.sql"):
        discover(Mode.POSTGRES, tmp_path)


def test_failing_migration_names_the_file_and_applies_nothing(empty_db_url: str, tmp_path: Path) -> None:
    (tmp_path / "0001_good.sql").write_text("CREATE TABLE good (id int);")
    (tmp_path / "0002_bad.sql").write_text("CREATE TABLE half (id int); SELECT no_such_function();")
    with pytest.raises(MigrationError, match=r"0002_bad\.sql"):
        migrate(empty_db_url, directory=tmp_path)
    with psycopg.connect(empty_db_url) as conn:
        assert conn.execute("SELECT version FROM schema_migrations").fetchall() == [(1,)]
        assert conn.execute("SELECT to_regclass('half')").fetchone() == (None,)


def test_a_schema_behind_the_code_is_a_clear_error_for_runs_and_sensors(db_url: str, conn: psycopg.Connection) -> None:
    import dagster as dg

    from hr_assets.defs.users.sensors import users_sensor
    from hr_assets.resources import WarehouseResource
    from hr_assets.warehouse.db import SchemaError, Warehouse
    from hr_assets.warehouse.migrations import latest_version

    assert Warehouse(db_url).check_schema().value == "postgres"
    conn.execute("DELETE FROM schema_migrations WHERE version = %s", (latest_version(),))
    expected = (
        f"the warehouse schema is at migration {latest_version() - 1:04d} and this code needs {latest_version():04d}"
    )
    with pytest.raises(SchemaError, match=expected + r": run `hr setup`"):
        Warehouse(db_url).check_schema()
    # A sensor tick says so too (its resources check the schema; they never migrate).
    resources = {"warehouse": WarehouseResource(database_url=db_url)}
    with dg.build_sensor_context(resources=resources) as context, pytest.raises(Exception) as raised:
        users_sensor(context)
    causes = [raised.value]
    while causes[-1].__cause__ is not None:
        causes.append(causes[-1].__cause__)
    assert any(isinstance(c, SchemaError) and expected in str(c) for c in causes), causes
    assert conn.execute("SELECT max(version) FROM schema_migrations").fetchone() == (latest_version() - 1,)


def test_a_database_never_migrated_says_to_run_setup(empty_db_url: str) -> None:
    from hr_assets.warehouse.db import SchemaError, Warehouse

    with pytest.raises(SchemaError, match=r"no schema yet: run `hr setup`"):
        Warehouse(empty_db_url).check_schema()
