"""The deployment layer's fixtures: the deployment its tests share, a server provisioned by the
TimescaleDB init script, then migrated and loaded by the project as docker compose runs it. Once per
test session (per xdist worker) and kind of server.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date, timedelta

import psycopg
import pytest
from psycopg import sql

from hr_assets_tests.deploy.deploy_helpers import (
    TIMESCALE_URL,
    VENV_BIN,
    Provisioned,
    init_script_env,
    new_passwords,
    pipeline_env,
    run,
    run_init_script,
)

# The xdist group of the tests that share the deployment (see pytest_collection_modifyitems).
DEPLOYMENT_GROUP = "deployment"


def _drop_databases(admin_url: str, *names: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        for name in names:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(
    scope="session",
    params=[
        "postgres",
        pytest.param(
            "timescaledb",
            marks=[
                pytest.mark.timescale,
                pytest.mark.skipif(not TIMESCALE_URL, reason="HR_TEST_TIMESCALE_URL is not set: no TimescaleDB server"),
            ],
        ),
    ],
)
def deployment(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provisioned]:
    """A server provisioned by the init script (run twice), migrated and loaded by the owner role."""
    admin_url = TIMESCALE_URL if request.param == "timescaledb" else request.getfixturevalue("pg_server").url()
    suffix = uuid.uuid4().hex[:8]
    provisioned = Provisioned(admin_url, f"hr_roles_{suffix}", f"dagster_roles_{suffix}", new_passwords())
    env = init_script_env(admin_url, provisioned.warehouse_db, provisioned.dagster_db, provisioned.passwords)
    try:
        for attempt in ("first run", "second run"):
            done = run_init_script(env)
            assert done.returncode == 0, f"init script, {attempt}:\n{done.stdout}\n{done.stderr}"
        hr = str(VENV_BIN / "hr")
        hr_env = pipeline_env(provisioned, tmp_path_factory.mktemp("deploy-home"))
        setup = run([hr, "setup", "--no-default-users"], hr_env)
        assert f"{request.param} mode" in setup
        start = (date.today() - timedelta(days=3)).isoformat()
        run([hr, "users", "add", "alice", "--timezone", "Europe/Berlin", "--seed", "5", "--start-date", start], hr_env)
        run([hr, "setup", "--no-default-users"], hr_env)  # Dagster's partitions for the new user
        run([hr, "backfill", "--last-days", "2"], hr_env)
        yield provisioned
    finally:
        _drop_databases(admin_url, provisioned.warehouse_db, provisioned.dagster_db)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under pytest-xdist (--dist loadgroup), every test of the shared deployment runs on one worker: the
    init script's roles are the server's, not a database's, so two workers provisioning the same
    TimescaleDB server would change each other's passwords; and the deployment is then built once."""
    for item in items:
        if "deployment" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group(DEPLOYMENT_GROUP))
