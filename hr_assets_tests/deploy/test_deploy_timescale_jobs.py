"""The exporter's view of TimescaleDB's background jobs, on a server of the test's own that runs short of
background workers: the case the HrTimescaleJobOverdue alert exists for.

A TimescaleDB server runs one job scheduler per database with the extension, each a background worker
(``max_worker_processes``). A database that gets none has jobs that never run, and nothing but the server's
log says so. The exporter's ``hr_timescaledb_job`` query must tell that warehouse from a healthy one, and
show its scheduler once the server has room for it.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from hr_assets.warehouse.migrations import migrate
from hr_assets_tests.deploy.deploy_helpers import load_yaml
from hr_assets_tests.deploy.monitoring_config import EXPORTER_QUERIES
from hr_assets_tests.integration.test_faults import _wait
from hr_assets_tests.integration.timescale_server import TimescaleServer, own_timescale_server

pytestmark = pytest.mark.timescale

# Room for three job schedulers: the other two workers are TimescaleDB's launcher and PostgreSQL's logical
# replication launcher. A job's run takes a worker of its own while it runs.
FEW_WORKERS = "max_worker_processes = 5\n"
OTHERS = ["other_1", "other_2"]  # databases with TimescaleDB whose schedulers fill the server's workers
SCHEDULER = "TimescaleDB Background Worker Scheduler"


def _job_metrics(url: str) -> dict[str, Any]:
    """The exporter's hr_timescaledb_job row for the columnstore policy, run as the exporter runs it."""
    query = load_yaml(EXPORTER_QUERIES)["hr_timescaledb_job"]["query"]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET default_transaction_read_only = on")
        cursor = conn.execute(query)
        columns = [column.name for column in cursor.description or []]
        rows = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    [row] = [row for row in rows if row["proc"] == "policy_compression"]
    return row


def _migrated_at(url: str) -> float:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT max(applied_at) FROM schema_migrations").fetchone()
    assert row is not None and isinstance(row[0], datetime)
    return row[0].timestamp()


def _schedulers(server: TimescaleServer) -> list[str]:
    with psycopg.connect(server.url(), autocommit=True) as conn:
        rows = conn.execute("SELECT datname FROM pg_stat_activity WHERE backend_type = %s", (SCHEDULER,)).fetchall()
    return sorted(name for (name,) in rows)


def _warehouse(server: TimescaleServer, name: str) -> str:
    url = server.create_database(name)
    migrate(url, "timescaledb")
    return url


def _has_run(url: str) -> bool:
    return bool(_job_metrics(url)["last_success_seconds"] > _migrated_at(url))


def test_the_exporter_tells_a_warehouse_whose_jobs_never_run_until_the_server_has_room(tmp_path: Path) -> None:
    with own_timescale_server(tmp_path / "timescaledb", settings=FEW_WORKERS) as server:
        healthy = _warehouse(server, "hr_healthy")
        _wait(lambda: _has_run(healthy), "the healthy warehouse's columnstore policy to run")
        for other in OTHERS:
            with psycopg.connect(server.create_database(other), autocommit=True) as conn:
                conn.execute("CREATE EXTENSION timescaledb")
        _wait(lambda: _schedulers(server) == ["hr_healthy", *OTHERS], "a scheduler for each of three databases")

        starved = _warehouse(server, "hr_starved")
        _wait(lambda: "no available background worker slots" in server.log_tail(), "the launcher to find no worker")
        assert _schedulers(server) == ["hr_healthy", *OTHERS]
        metrics = _job_metrics(starved)
        assert metrics["scheduler_running"] == 0
        assert metrics["last_success_seconds"] == _migrated_at(starved)  # never run: counted from the migration
        assert metrics["schedule_interval_seconds"] == 12 * 3600 and metrics["relation"] == "activities_heart_intraday"
        assert _job_metrics(healthy)["scheduler_running"] == 1

        # Room made: the launcher starts the starved warehouse's scheduler, which the metric shows at once. Its
        # policy's launches that found no worker count as failures (the policy then waits its retry period),
        # and it still counts from the migration until a run succeeds.
        with psycopg.connect(server.url(), autocommit=True) as conn:
            for other in OTHERS:
                conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(other)))
        _wait(lambda: _job_metrics(starved)["scheduler_running"] == 1, "the starved warehouse's scheduler to start")
        assert _job_metrics(starved)["last_success_seconds"] >= _migrated_at(starved)
