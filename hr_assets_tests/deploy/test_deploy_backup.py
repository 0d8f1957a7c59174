"""Backup and restore as the README's Deployment section describes them, on a real server: `pg_dump`
of both databases as the superuser, a new server's empty databases from the init script, then
`timescaledb_pre_restore()`, `pg_restore` and `timescaledb_post_restore()` (TimescaleDB), and the
restored deployment works: the same readings for the read-only role, the same owner, migrations up
to date, Dagster's runs back.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from hr_assets.local import localdb
from hr_assets_tests.deploy.deploy_helpers import (
    VENV_BIN,
    Provisioned,
    clean_env,
    init_script_env,
    pipeline_env,
    run,
    run_init_script,
)

DEBIAN_BIN = Path("/usr/lib/postgresql/{major}/bin")


def _pg_bin(admin_url: str) -> Path:
    """pg_dump and pg_restore of the server's own major version, as `docker compose exec` runs them."""
    with psycopg.connect(admin_url) as conn:
        major = conn.info.server_version // 10000
    for folder in (localdb._bin_dir(), Path(str(DEBIAN_BIN).format(major=major))):
        pg_dump = folder / "pg_dump"
        if pg_dump.exists():
            version = subprocess.run([str(pg_dump), "--version"], capture_output=True, text=True).stdout
            if f" {major}." in version:
                return folder
    pytest.skip(f"no pg_dump of PostgreSQL {major} here (the embedded server's, or Debian's postgresql-client-{major})")


def _pg_env(admin_url: str) -> dict[str, str]:
    server = conninfo_to_dict(admin_url)
    env = clean_env(
        PGHOST=str(server.get("host", "127.0.0.1")),
        PGPORT=str(server.get("port", 5432)),
        PGUSER=str(server.get("user", "postgres")),
    )
    if server.get("password"):
        env["PGPASSWORD"] = str(server["password"])
    return env


def _admin(deployment: Provisioned, database: str, statement: str) -> None:
    with psycopg.connect(deployment.url_as_admin(database), autocommit=True) as conn:
        conn.execute(statement)


def _counts(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        return {
            table: int(conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))).fetchone()[0])
            for table in ("users", "activities_heart_intraday", "activities_heart_intraday_1h", "partition_loads")
        }


@pytest.fixture(scope="module")
def restored(deployment: Provisioned, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provisioned]:
    folder = tmp_path_factory.mktemp("backup")
    pg_bin = _pg_bin(deployment.admin_url)
    env = _pg_env(deployment.admin_url)
    # Backup: both databases, custom format, as the superuser.
    for database in (deployment.warehouse_db, deployment.dagster_db):
        run([str(pg_bin / "pg_dump"), "-Fc", "-d", database, "-f", str(folder / f"{database}.dump")], env)
    # A new server: the init script makes the roles (they exist: passwords reset) and empty databases.
    suffix = uuid.uuid4().hex[:8]
    target = Provisioned(
        deployment.admin_url, f"hr_restored_{suffix}", f"dagster_restored_{suffix}", deployment.passwords
    )
    done = run_init_script(init_script_env(target.admin_url, target.warehouse_db, target.dagster_db, target.passwords))
    assert done.returncode == 0, done.stderr
    try:
        timescale = _has_timescale(target)
        if timescale:
            _admin(target, target.warehouse_db, "SELECT timescaledb_pre_restore()")
        run(
            [
                str(pg_bin / "pg_restore"),
                "--exit-on-error",
                "-d",
                target.warehouse_db,
                str(folder / f"{deployment.warehouse_db}.dump"),
            ],
            env,
        )
        if timescale:
            _admin(target, target.warehouse_db, "SELECT timescaledb_post_restore()")
        run(
            [
                str(pg_bin / "pg_restore"),
                "--exit-on-error",
                "-d",
                target.dagster_db,
                str(folder / f"{deployment.dagster_db}.dump"),
            ],
            env,
        )
        yield target
    finally:
        with psycopg.connect(target.admin_url, autocommit=True) as conn:
            for database in (target.warehouse_db, target.dagster_db):
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))


def _has_timescale(target: Provisioned) -> bool:
    with psycopg.connect(target.url_as_admin(target.warehouse_db)) as conn:
        return conn.execute("SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'").fetchone() == (1,)


def test_the_restored_warehouse_has_every_reading_for_the_read_only_role(
    deployment: Provisioned, restored: Provisioned
) -> None:
    original = _counts(deployment.reader_url)
    assert original["activities_heart_intraday"] > 1000
    assert _counts(restored.reader_url) == original


def test_the_restored_warehouse_keeps_its_owner_and_is_up_to_date(restored: Provisioned, tmp_path: Path) -> None:
    with psycopg.connect(restored.owner_url) as conn:
        owners = conn.execute("SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'").fetchall()
    assert owners == [("hr_owner",)]
    output = run([str(VENV_BIN / "hr"), "migrate"], pipeline_env(restored, tmp_path))
    assert "up to date" in output


def test_dagsters_runs_are_restored_into_its_own_database(deployment: Provisioned, restored: Provisioned) -> None:
    def runs(url: str) -> object:
        with psycopg.connect(url) as conn:
            return conn.execute("SELECT count(*), max(run_id) FROM runs").fetchone()

    assert runs(restored.dagster_url) == runs(deployment.dagster_url)
