"""HR_WAREHOUSE_MODE against real servers: one without TimescaleDB (the embedded server), and
Debian's PostgreSQL 15 with TimescaleDB installed but not preloaded (a common state right
after installing the package), started by the test itself."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from hr_assets.cli import main
from hr_assets.local import localdb
from hr_assets.warehouse.db import Mode, ModeError
from hr_assets.warehouse.migrations import migrate

PG15 = Path("/usr/lib/postgresql/15")
TIMESCALE_LIBRARY = PG15 / "lib" / "timescaledb.so"
UNPRELOADED_REASON = (
    f"needs PostgreSQL 15 in {PG15} with the TimescaleDB extension installed ({TIMESCALE_LIBRARY.name}: "
    "Timescale's timescaledb-2-postgresql-15 package or a build from source), and root to run it as the "
    "postgres account; the TimescaleDB-mode tests against a running TimescaleDB server need "
    "HR_TEST_TIMESCALE_URL instead (see docs/testing.md)"
)


def _tables(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1").fetchall()
    return [row[0] for row in rows]


@pytest.fixture(scope="module")
def unpreloaded_url() -> Iterator[str]:
    """A PostgreSQL 15 server with the TimescaleDB package installed and shared_preload_libraries unset."""
    if not TIMESCALE_LIBRARY.exists() or os.geteuid() != 0:
        pytest.skip(UNPRELOADED_REASON)
    try:
        account = pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip(UNPRELOADED_REASON)
    # /var/tmp: a folder the postgres account can reach without changing any folder's mode.
    folder = Path(tempfile.mkdtemp(prefix="hr-unpreloaded-", dir="/var/tmp"))
    os.chown(folder, account.pw_uid, account.pw_gid)
    data, port = folder / "data", localdb.free_port()

    def as_postgres(*command: str) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", *command], check=True, capture_output=True)

    as_postgres(str(PG15 / "bin" / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres")
    options = f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={folder}"
    as_postgres(str(PG15 / "bin" / "pg_ctl"), "-D", str(data), "-l", str(folder / "log"), "-o", options, "-w", "start")
    url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    try:
        with psycopg.connect(url) as conn:
            installed = conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'").fetchone()
        assert installed, "the package is installed"
        yield url
    finally:
        as_postgres(str(PG15 / "bin" / "pg_ctl"), "-D", str(data), "-m", "fast", "stop")
        shutil.rmtree(folder, ignore_errors=True)


def test_auto_refuses_a_timescaledb_that_is_not_preloaded(unpreloaded_url: str) -> None:
    with pytest.raises(ModeError) as refused:
        migrate(unpreloaded_url, "auto")
    message = str(refused.value)
    assert "not preloaded" in message
    assert "shared_preload_libraries = 'timescaledb'" in message and "HR_WAREHOUSE_MODE=postgres" in message
    # Nothing was built, so the database can still become a TimescaleDB warehouse later.
    assert _tables(unpreloaded_url) == []
    with pytest.raises(ModeError, match="not preloaded"):
        migrate(unpreloaded_url, "timescaledb")


def test_postgres_mode_goes_on_without_it(unpreloaded_url: str) -> None:
    with psycopg.connect(unpreloaded_url, autocommit=True) as conn:
        conn.execute("CREATE DATABASE plain")
    url = unpreloaded_url.rsplit("/", 1)[0] + "/plain"
    mode, applied = migrate(url, "postgres")
    assert mode is Mode.POSTGRES and applied
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'").fetchone() is None
    # The mode is the database's from now on, whatever the setting says later.
    assert migrate(url, "auto") == (Mode.POSTGRES, [])
    with pytest.raises(ModeError, match="first migrated in postgres mode"):
        migrate(url, "timescaledb")


def test_timescaledb_mode_fails_clearly_where_it_is_not_installed(empty_db_url: str) -> None:
    with pytest.raises(ModeError, match="no TimescaleDB extension installed"):
        migrate(empty_db_url, "timescaledb")
    assert _tables(empty_db_url) == []
    assert migrate(empty_db_url, "auto")[0] is Mode.POSTGRES


def test_hr_setup_says_what_to_do(unpreloaded_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from hr_assets.settings import get_settings

    monkeypatch.setenv("HR_DATABASE_URL", unpreloaded_url)
    monkeypatch.setenv("HR_HOME", str(tmp_path / "hr"))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(main, ["setup", "--no-default-users"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1
    assert "Error: TimescaleDB is installed on this server but not preloaded" in result.output
    assert "Traceback" not in result.output
