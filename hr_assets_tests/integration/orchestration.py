"""What the orchestration tests share: a real Dagster instance, a registered user, a source that
serves crafted payloads, and a local webhook that records what it receives.
"""

from __future__ import annotations

import json
import socket
import socketserver
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any
from zoneinfo import ZoneInfo

import dagster as dg
import psycopg
import psycopg.errors

from hr_assets.defs.heart_rate.assets import (
    activities_heart_intraday,
    activities_heart_intraday_1d,
    activities_heart_intraday_1h,
    activities_heart_intraday_1m,
    activities_heart_summary,
)
from hr_assets.defs.heart_rate.partitions import USERS_PARTITION_NAME
from hr_assets.defs.users.sensors import users_sensor
from hr_assets.domain.ingest import ingest
from hr_assets.domain.planning import PartitionRange
from hr_assets.domain.user_day import UserDay
from hr_assets.local.alerts import AlertResource
from hr_assets.resources import WarehouseResource
from hr_assets.sources import SOURCES, DayPayloads, PayloadKind, SourceRegistry, UserProfile
from hr_assets.warehouse.db import Warehouse
from hr_assets.warehouse.users import NewUser, add_user, users_by_id
from hr_assets_tests.payloads import intraday, summary

INTRADAY_KEY = activities_heart_intraday.key
SUMMARY_KEY = activities_heart_summary.key
AGGREGATE_KEYS = [activities_heart_intraday_1m.key, activities_heart_intraday_1h.key, activities_heart_intraday_1d.key]


# --- helpers ----------------------------------------------------------------------------------


def _resources(db_url: str, webhook_url: str | None = None, sources: SourceRegistry = SOURCES) -> dict[str, Any]:
    return {
        "warehouse": WarehouseResource(database_url=db_url),
        "alerts": AlertResource(webhook_url=webhook_url),
        "sources": sources,
    }


def _register(
    conn: psycopg.Connection, user_id: str, timezone: str, start: date = date(2025, 1, 1), source: str = "simulated"
) -> None:
    seed = 7 if source == "simulated" else None
    known = SOURCES.kinds | {_CraftedSource.kind}
    add_user(conn, NewUser(user_id, timezone, start, source=source, seed=seed), known_sources=known)


def _instance(*users: str) -> dg.DagsterInstance:
    instance = dg.DagsterInstance.ephemeral()
    if users:
        instance.add_dynamic_partitions(USERS_PARTITION_NAME, list(users))
    return instance


def _local_yesterday(timezone: str) -> date:
    return datetime.now(ZoneInfo(timezone)).date() - timedelta(days=1)


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def _mark_loaded(instance: dg.DagsterInstance, keys: list[str]) -> None:
    """Record raw materialisations without running anything, as if a run had loaded those partitions."""
    for key in keys:
        instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=INTRADAY_KEY, partition=key))


@contextmanager
def _serving(server: socketserver.BaseServer) -> Iterator[int]:
    """Serve on a thread while the block runs; the port."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])  # type: ignore[index]
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@dataclass
class Received:
    content_type: str
    body: dict[str, Any]


@dataclass
class Receiver:
    url: str
    received: list[Received] = field(default_factory=list)


def _webhook_handler(received: list[Received], status: int) -> type[BaseHTTPRequestHandler]:
    """A request handler that records every POST and answers ``status``."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            received.append(Received(self.headers.get("Content-Type", ""), json.loads(self.rfile.read(length))))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


class _CraftedSource:
    """A source answering with payloads that a test builds for each (user, day)."""

    kind = "crafted"

    def __init__(self, make: Callable[[str, date], list[dict[str, Any]]], summary_of: Callable[[date], bytes]) -> None:
        self.make = make
        self.summary_of = summary_of

    def fetch_day(self, user: UserProfile, day: date, *, only: PayloadKind | None = None) -> DayPayloads:
        return DayPayloads(
            intraday=intraday(self.make(user.user_id, day)), summary=self.summary_of(day), origin="crafted.json"
        )

    def available_dates(self, user: UserProfile) -> None:
        return None


def _crafted(
    make: Callable[[str, date], list[dict[str, Any]]], summary_of: Callable[[date], bytes] = summary
) -> SourceRegistry:
    """The project's sources and one that serves what ``make`` and ``summary_of`` build."""
    return SOURCES.with_sources(_CraftedSource(make, summary_of))


def _evaluations(result: dg.ExecuteInProcessResult) -> dict[tuple[str, str], dg.AssetCheckEvaluation]:
    return {(e.asset_key.to_user_string(), e.check_name): e for e in result.get_asset_check_evaluations()}


def _values(evaluation: dg.AssetCheckEvaluation) -> dict[str, Any]:
    return {key: value.value for key, value in evaluation.metadata.items()}


def _materialized_nodes(result: dg.ExecuteInProcessResult) -> set[str]:
    return {
        e.asset_key.to_user_string() for e in result.all_events if e.is_step_materialization and e.asset_key is not None
    }


def _evaluate_users_sensor(instance: dg.DagsterInstance, db_url: str, cursor: str | None = None) -> dg.SensorResult:
    with dg.build_sensor_context(
        instance=instance, resources={"warehouse": WarehouseResource(database_url=db_url)}, cursor=cursor
    ) as context:
        result = users_sensor(context)
    assert isinstance(result, dg.SensorResult)
    return result


def _run_failure_context(
    instance: dg.DagsterInstance, run: dg.DagsterRun, event: dg.DagsterEvent, alerts: AlertResource
) -> dg.RunFailureSensorContext:
    return dg.build_run_status_sensor_context(
        sensor_name="hr_run_failure_sensor",
        dagster_instance=instance,
        dagster_run=run,
        dagster_event=event,
        resources={"alerts": alerts},
    ).for_run_failure()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# 20 minutes of readings, one a minute from 08:00; three at 20 bpm (parsed, but implausible)
# and two at 0 bpm (impossible: quarantined by the parser).
SPARSE_MINUTES = 20
LOW_BPM_MINUTES = (3, 7, 11)
ZERO_BPM_TIMES = ("09:00:00", "09:00:30")


def _sparse_day(user_id: str, day: date) -> list[dict[str, Any]]:
    readings = [
        {"time": f"08:{m:02d}:00", "value": 20 if m in LOW_BPM_MINUTES else 60 + m} for m in range(SPARSE_MINUTES)
    ]
    return readings + [{"time": t, "value": 0} for t in ZERO_BPM_TIMES]


def _range(request: dg.RunRequest) -> PartitionRange:
    """The partitions a ranged run request covers."""
    key_range = request.partition_key_range
    assert key_range is not None and request.partition_key is None
    start, end = UserDay.parse(key_range.start), UserDay.parse(key_range.end)
    return PartitionRange(start.day, start.user_id, end.day, end.user_id)


def _ingest(db_url: str, partitions: list[UserDay], sources: SourceRegistry = SOURCES) -> None:
    """Both payloads of ``partitions`` loaded, as a run would load them."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        users = users_by_id(conn, sorted({p.user_id for p in partitions}))
    for payload in ("intraday", "summary"):
        report = ingest(Warehouse(db_url), sources, users, partitions, payload)
        assert not report.failures
