"""The query API layer's fixtures: the warehouse and the logging server its reliability suites share.

The warehouse is loaded once per test session the way the pipeline loads it: users named as in the
API's documented examples (``user1``, ``user2``, ...) in four time zones, the days around the
documented example date 2025-06-01, and one retired user whose data is kept. A second PostgreSQL
server, started for these tests, logs every statement of its database ``hr``. The figures the tests
gather are printed at the end of the run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import psycopg
import pytest

from hr_assets.local import localdb
from hr_assets.warehouse.users import NewUser, retire_user
from hr_assets_tests.api.api_helpers import DAYS, LOG_LINE_PREFIX, RETIRED, ZONES, LoggedServer
from hr_assets_tests.conftest import TEMPLATE, create_database, drop_database
from hr_assets_tests.warehouse_data import load_simulated


@pytest.fixture(scope="session")
def api_warehouse(pg_server: localdb.LocalServer, template_url: str) -> Iterator[str]:
    """The URL of a warehouse loaded with ZONES' users over DAYS; RETIRED retired after loading. Read only."""
    name = f"hr_api_reliability_{os.getpid()}"
    url = create_database(pg_server, name, template=TEMPLATE)
    users = [NewUser(uid, tz, DAYS[0], seed=n + 41) for n, (uid, tz) in enumerate(ZONES.items())]
    load_simulated(url, users, DAYS)
    with psycopg.connect(url, autocommit=True) as conn:
        retire_user(conn, RETIRED)
    yield url
    drop_database(pg_server, name)


@pytest.fixture(scope="session")
def logged_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoggedServer]:
    """A server started for these tests, its database ``hr`` loaded (user1, user2; one day), then logging every
    statement (log_statement = 'all') with its bound parameters in full (log_parameter_max_length = -1)."""
    root = tmp_path_factory.mktemp("logged-postgres")
    server = localdb.ensure_running(root)
    try:
        url = localdb.ensure_database(server, "hr")
        users = [NewUser(uid, ZONES[uid], DAYS[1], seed=n + 41) for n, uid in enumerate(("user1", "user2"))]
        load_simulated(url, users, DAYS[1:2])
        with psycopg.connect(server.url(), autocommit=True) as conn:
            conn.execute(f"ALTER SYSTEM SET log_line_prefix = '{LOG_LINE_PREFIX}'")
            conn.execute("ALTER SYSTEM SET log_parameter_max_length = -1")
            conn.execute("SELECT pg_reload_conf()")
            conn.execute("ALTER DATABASE hr SET log_statement = 'all'")
        yield LoggedServer(server, url)
    finally:
        localdb.stop(root)


@pytest.fixture
def short_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    """How long a request, /health and a scrape wait for a connection that never comes: 0.3 s, not seconds."""
    for constant in ("main.POOL_WAIT_SECONDS", "routes.meta.HEALTH_WAIT_SECONDS", "metrics.SCRAPE_WAIT_SECONDS"):
        monkeypatch.setattr(f"hr_api.{constant}", 0.3)
