"""When things run and what they say: the users sensor, the schedules, the automation of the
aggregates, the asset checks of a real run, the alert webhook, and which errors are retried.

Everything runs against a real database and a real Dagster instance (ephemeral, or a
temporary persistent one where a schedule context needs an instance reference); the alert
webhook is a local HTTP server that records what it receives.
"""

from __future__ import annotations

import json
import socket
import socketserver
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import dagster as dg
import psycopg
import psycopg.errors
import pytest

from hr_assets.alerts import AlertResource, post_alert
from hr_assets.definitions import defs
from hr_assets.defs.alerts.sensors import hr_run_failure_sensor, run_failure_message
from hr_assets.defs.common import HISTORY_USER_TAG, NIGHTLY_PRIORITY, PURPOSE_TAG
from hr_assets.defs.heart_rate.assets import (
    activities_heart_intraday,
    activities_heart_intraday_1d,
    activities_heart_intraday_1h,
    activities_heart_intraday_1m,
    activities_heart_summary,
    heart_rate_assets,
)
from hr_assets.defs.heart_rate.checks import (
    CONSISTENCY_CHECK,
    COVERAGE_CHECK,
    PLAUSIBILITY_CHECK,
    QUARANTINE_CHECK,
    SCHEMA_CHECK,
)
from hr_assets.defs.heart_rate.partitions import USERS_PARTITION_NAME
from hr_assets.defs.heart_rate.schedules import hr_nightly_schedule
from hr_assets.defs.users.assets import USER_REGISTRY
from hr_assets.defs.users.checks import LATEST_DAY_LOADED_CHECK, late_partitions
from hr_assets.defs.users.sensors import users_sensor
from hr_assets.ingest import ingest
from hr_assets.planning import HISTORY_DAYS_PER_RUN, HISTORY_DAYS_PER_TICK, PartitionRange
from hr_assets.resources import WarehouseResource
from hr_assets.sources import SOURCES, DayPayloads, PayloadKind, SourceRegistry, UserProfile
from hr_assets.user_day import UserDay
from hr_assets.warehouse.db import Warehouse, is_transient
from hr_assets.warehouse.users import NewUser, add_user, retire_user, users_by_id
from hr_assets_tests.payloads import every, intraday, summary

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


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A local webhook that records every POST and answers 200."""
    received: list[Received] = []
    with _serving(ThreadingHTTPServer(("127.0.0.1", 0), _webhook_handler(received, 200))) as port:
        yield Receiver(f"http://127.0.0.1:{port}/hook", received)


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


# --- users_sensor -----------------------------------------------------------------------------


def _evaluate_users_sensor(instance: dg.DagsterInstance, db_url: str, cursor: str | None = None) -> dg.SensorResult:
    with dg.build_sensor_context(
        instance=instance, resources={"warehouse": WarehouseResource(database_url=db_url)}, cursor=cursor
    ) as context:
        result = users_sensor(context)
    assert isinstance(result, dg.SensorResult)
    return result


def _apply_partition_requests(instance: dg.DagsterInstance, result: dg.SensorResult) -> None:
    """What the sensor daemon does with a result's partition requests."""
    for request in result.dynamic_partitions_requests or []:
        if isinstance(request, dg.AddDynamicPartitionsRequest):
            instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
        else:
            for key in request.partition_keys:
                instance.delete_dynamic_partition(request.partitions_def_name, key)


def _range(request: dg.RunRequest) -> PartitionRange:
    """The partitions a ranged run request covers."""
    key_range = request.partition_key_range
    assert key_range is not None and request.partition_key is None
    start, end = UserDay.parse(key_range.start), UserDay.parse(key_range.end)
    return PartitionRange(start.day, start.user_id, end.day, end.user_id)


def test_users_sensor_adds_new_users_and_removes_retired_ones_keeping_their_data(
    db_url: str, conn: psycopg.Connection
) -> None:
    recent = _local_yesterday("UTC") - timedelta(days=2)
    for user_id, zone in (("kept", "UTC"), ("newbie", "America/Chicago"), ("another", "Asia/Tokyo"), ("leaver", "UTC")):
        _register(conn, user_id, zone, start=recent)
    retire_user(conn, "leaver")
    conn.execute(
        "INSERT INTO activities_heart_intraday (user_id, time, bpm) VALUES ('leaver', '2025-06-01 08:00+00', 61)"
    )
    # 'leaver' was scheduled before it retired; 'deleted' is in Dagster but not in the registry at all.
    instance = _instance("kept", "leaver", "deleted")

    result = _evaluate_users_sensor(instance, db_url)

    requests = result.dynamic_partitions_requests or []
    # New users go in east to west, so that users of one zone sit together.
    assert [(type(r).__name__, r.partitions_def_name, list(r.partition_keys)) for r in requests] == [
        ("AddDynamicPartitionsRequest", USERS_PARTITION_NAME, ["another", "newbie"]),
        ("DeleteDynamicPartitionsRequest", USERS_PARTITION_NAME, ["deleted", "leaver"]),
    ]
    history_users = [r.tags[HISTORY_USER_TAG] for r in result.run_requests or []]
    assert sorted(history_users) == ["another", "kept", "newbie"]  # three days each: one run per user
    assert set(json.loads(result.cursor or "{}")) == {"kept", "newbie", "another"}

    _apply_partition_requests(instance, result)
    assert instance.get_dynamic_partitions(USERS_PARTITION_NAME) == ["kept", "another", "newbie"]
    # Retiring stops the scheduling, not the data.
    assert conn.execute("SELECT count(*) FROM activities_heart_intraday WHERE user_id = 'leaver'").fetchone() == (1,)
    assert conn.execute("SELECT retired_at IS NOT NULL FROM users WHERE id = 'leaver'").fetchone() == (True,)

    # In step now: the next tick asks for no partition change and no run.
    again = _evaluate_users_sensor(instance, db_url, cursor=result.cursor)
    assert not again.dynamic_partitions_requests
    assert not again.run_requests


def test_users_sensor_requests_history_as_ranged_runs_skipping_loaded_days(
    db_url: str, conn: psycopg.Connection
) -> None:
    zones = {"tokyo": "Asia/Tokyo", "angeles": "America/Los_Angeles"}
    history_days = HISTORY_DAYS_PER_RUN + 45
    starts = {}
    for user_id, zone in zones.items():
        starts[user_id] = _local_yesterday(zone) - timedelta(days=history_days - 1)
        _register(conn, user_id, zone, start=starts[user_id])
    instance = _instance(*zones)
    tokyo_days = _days(starts["tokyo"], _local_yesterday("Asia/Tokyo"))
    # Tokyo's 11th day is loaded already (by `hr backfill`, say): the warehouse's load records say so.
    _ingest(db_url, [UserDay("tokyo", tokyo_days[10])])

    first = _evaluate_users_sensor(instance, db_url)

    by_user: dict[str, list[PartitionRange]] = {}
    for request in first.run_requests or []:
        assert isinstance(request, dg.RunRequest)
        assert request.tags[PURPOSE_TAG] == "history" and request.run_key == f"history:{_range(request)}"
        by_user.setdefault(request.tags[HISTORY_USER_TAG], []).append(_range(request))
    # A tick asks for HISTORY_DAYS_PER_TICK days (a run's worth): angeles' newest first.
    angeles_days = _days(starts["angeles"], _local_yesterday("America/Los_Angeles"))
    angeles_cut = history_days - HISTORY_DAYS_PER_TICK
    assert by_user == {"angeles": [PartitionRange(angeles_days[angeles_cut], "angeles", angeles_days[-1], "angeles")]}
    assert json.loads(first.cursor or "") == {
        "angeles": {"until": angeles_days[-1].isoformat(), "start": angeles_days[angeles_cut].isoformat()}
    }
    # The next tick: the rest of angeles' (tokyo's history does not fit beside it and waits whole);
    # the third: tokyo's newest year; the fourth: tokyo's oldest days, around the day already
    # loaded; then nothing.
    second = _evaluate_users_sensor(instance, db_url, cursor=first.cursor)
    assert _ranges(second) == [PartitionRange(angeles_days[0], "angeles", angeles_days[angeles_cut - 1], "angeles")]
    third = _evaluate_users_sensor(instance, db_url, cursor=second.cursor)
    tokyo_cut = history_days - HISTORY_DAYS_PER_TICK
    assert _ranges(third) == [PartitionRange(tokyo_days[tokyo_cut], "tokyo", tokyo_days[-1], "tokyo")]
    fourth = _evaluate_users_sensor(instance, db_url, cursor=third.cursor)
    assert _ranges(fourth) == [
        PartitionRange(tokyo_days[0], "tokyo", tokyo_days[9], "tokyo"),
        PartitionRange(tokyo_days[11], "tokyo", tokyo_days[tokyo_cut - 1], "tokyo"),
    ]
    fifth = _evaluate_users_sensor(instance, db_url, cursor=fourth.cursor)
    assert not fifth.run_requests and fifth.cursor == fourth.cursor
    assert json.loads(fifth.cursor or "") == {
        "angeles": {"until": angeles_days[-1].isoformat(), "start": starts["angeles"].isoformat()},
        "tokyo": {"until": tokyo_days[-1].isoformat(), "start": starts["tokyo"].isoformat()},
    }


def _ranges(result: dg.SensorResult) -> list[PartitionRange]:
    return [_range(r) for r in result.run_requests or [] if isinstance(r, dg.RunRequest)]


def test_a_new_users_40_days_of_history_become_one_run_that_lands_every_partition(
    db_url: str, conn: psycopg.Connection, hr_home: Path
) -> None:
    """The wiring from registry to data: the sensor's request, run as the daemon would run it."""
    start = _local_yesterday("Europe/Berlin") - timedelta(days=39)
    _register(conn, "alice", "Europe/Berlin", start=start)
    with dg.instance_for_test() as instance:
        result = _evaluate_users_sensor(instance, db_url)
        _apply_partition_requests(instance, result)
        requests = [r for r in result.run_requests or [] if isinstance(r, dg.RunRequest)]
        assert 1 <= len(requests) <= 2
        job = defs.resolve_job_def("hr_partition_job")
        for request in requests:
            ran = job.execute_in_process(instance=instance, tags=request.tags, resources=_resources(db_url))
            assert ran.success
        days = _days(start, _local_yesterday("Europe/Berlin"))
        expected = {UserDay("alice", d).key for d in days}
        for key in [INTRADAY_KEY, SUMMARY_KEY, *AGGREGATE_KEYS]:
            assert set(instance.get_materialized_partitions(key)) == expected, key
    loaded = conn.execute(
        "SELECT count(DISTINCT date) FROM partition_loads WHERE user_id = 'alice' AND payload = 'intraday'"
    )
    assert loaded.fetchone() == (40,)
    hourly = conn.execute("SELECT sum(sample_count) FROM activities_heart_intraday_1d WHERE user_id = 'alice'")
    raw = conn.execute("SELECT count(*) FROM activities_heart_intraday WHERE user_id = 'alice'")
    assert hourly.fetchone() == raw.fetchone() != (0,)


# --- hr_nightly_schedule ----------------------------------------------------------------------

# Summer offsets in June 2025: Tokyo +9, Berlin +2, Los Angeles -7.
JUNE_OFFSETS = {"asia": ("Asia/Tokyo", 9), "europe": ("Europe/Berlin", 2), "america": ("America/Los_Angeles", -7)}


def _expected_nightly(tick_utc: datetime, user_ids: list[str]) -> set[str]:
    """Each user's last complete local day at the tick, and the day before, from the fixed offsets."""
    keys = set()
    for user_id in user_ids:
        local_today = (tick_utc + timedelta(hours=JUNE_OFFSETS[user_id][1])).date()
        for back in (1, 2):
            keys.add(f"{(local_today - timedelta(days=back)).isoformat()}|{user_id}")
    return keys


def _evaluate_nightly(instance: dg.DagsterInstance, db_url: str, tick: datetime) -> list[dg.RunRequest]:
    # Closed after use: the context opens its own handle on the instance, and leaving it open
    # leaves that handle as Dagster's current state storage for whatever runs next.
    with dg.build_schedule_context(
        instance=instance,
        scheduled_execution_time=tick,
        resources={"warehouse": WarehouseResource(database_url=db_url)},
    ) as context:
        requests = hr_nightly_schedule(context)
    assert isinstance(requests, list)
    return requests


def _nightly_partitions(requests: list[dg.RunRequest], order: list[str]) -> list[str]:
    return sorted(p.key for r in requests for p in _range(r).partitions(order))


@pytest.fixture
def persistent_instance() -> Iterator[dg.DagsterInstance]:
    """A schedule context reads the instance through its reference: an ephemeral one has none."""
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(USERS_PARTITION_NAME, list(JUNE_OFFSETS))
        yield instance


@pytest.fixture
def world_users(conn: psycopg.Connection) -> None:
    for user_id, (zone, _) in JUNE_OFFSETS.items():
        _register(conn, user_id, zone)


@pytest.mark.parametrize(
    "tick",
    [
        datetime(2025, 6, 10, 2, tzinfo=UTC),  # HR_SCHEDULE_TIMEZONE=UTC (the default)
        datetime(2025, 6, 10, 2, tzinfo=ZoneInfo("Asia/Tokyo")),  # 2025-06-09 17:00 UTC
        datetime(2025, 6, 10, 2, tzinfo=ZoneInfo("America/Los_Angeles")),  # 2025-06-10 09:00 UTC
        datetime(2025, 6, 10, 2, tzinfo=ZoneInfo("Europe/Berlin")),  # 2025-06-10 00:00 UTC
    ],
    ids=["utc", "tokyo", "los-angeles", "berlin"],
)
def test_nightly_schedule_covers_each_users_last_two_complete_local_days_in_ranged_runs(
    db_url: str, world_users: None, persistent_instance: dg.DagsterInstance, tick: datetime
) -> None:
    requests = _evaluate_nightly(persistent_instance, db_url, tick)
    order = list(JUNE_OFFSETS)
    covered = set(_nightly_partitions(requests, order))
    assert _expected_nightly(tick.astimezone(UTC), order) <= covered
    # A range may take a user's older day along, never one that has not ended where the user is.
    for key in covered:
        partition = UserDay.parse(key)
        zone = JUNE_OFFSETS[partition.user_id][0]
        assert partition.day < tick.astimezone(ZoneInfo(zone)).date()
    assert len(requests) <= 3
    assert all(
        r.tags[PURPOSE_TAG] == "nightly" and r.tags["dagster/priority"] == str(NIGHTLY_PRIORITY) for r in requests
    )


def test_nightly_schedule_dates_at_2am_utc_spelled_out(
    db_url: str, world_users: None, persistent_instance: dg.DagsterInstance
) -> None:
    requests = _evaluate_nightly(persistent_instance, db_url, datetime(2025, 6, 10, 2, tzinfo=UTC))
    # Tokyo at 11:00 and Berlin at 04:00 on the 10th; Los Angeles at 19:00 on the 9th.
    assert [str(_range(r)) for r in requests] == [
        "2025-06-07|america...2025-06-07|america",
        "2025-06-08|asia...2025-06-08|america",
        "2025-06-09|asia...2025-06-09|europe",
    ]


def test_nightly_run_keys_are_stable_for_a_tick_and_new_the_next_night(
    db_url: str, world_users: None, persistent_instance: dg.DagsterInstance
) -> None:
    instance = persistent_instance
    tick = datetime(2025, 6, 10, 2, tzinfo=UTC)
    first = _evaluate_nightly(instance, db_url, tick)
    again = _evaluate_nightly(instance, db_url, tick)
    next_night = _evaluate_nightly(instance, db_url, tick + timedelta(days=1))

    assert [(r.run_key, r.tags) for r in first] == [(r.run_key, r.tags) for r in again]
    assert len({r.run_key for r in first}) == len(first)
    assert not {r.run_key for r in first} & {r.run_key for r in next_night}
    # The next night re-fetches the day that was the latest, under a new run key.
    order = list(JUNE_OFFSETS)
    shared = set(_nightly_partitions(first, order)) & set(_nightly_partitions(next_night, order))
    assert {f"2025-06-09|{u}" for u in ("asia", "europe")} | {"2025-06-08|america"} <= shared


def test_nightly_schedule_skips_users_not_yet_partitioned_and_retired_users(
    db_url: str, conn: psycopg.Connection, world_users: None, persistent_instance: dg.DagsterInstance
) -> None:
    _register(conn, "late", "UTC")  # registered after the users sensor's last tick
    retire_user(conn, "america")  # retired, but the sensor has not removed its partition yet
    requests = _evaluate_nightly(persistent_instance, db_url, datetime(2025, 6, 10, 2, tzinfo=UTC))
    assert _nightly_partitions(requests, list(JUNE_OFFSETS)) == [
        "2025-06-08|asia",
        "2025-06-08|europe",
        "2025-06-09|asia",
        "2025-06-09|europe",
    ]


def test_schedule_timezone_setting_sets_when_the_schedules_tick(tmp_path: Path) -> None:
    # The schedules read HR_SCHEDULE_TIMEZONE when the code location loads: a fresh interpreter.
    script = (
        "from hr_assets.defs.heart_rate.schedules import hr_nightly_schedule\n"
        "from hr_assets.defs.users.schedules import hr_freshness_schedule\n"
        "print(hr_nightly_schedule.execution_timezone, hr_nightly_schedule.cron_schedule)\n"
        "print(hr_freshness_schedule.execution_timezone, hr_freshness_schedule.cron_schedule)\n"
    )
    env = {"PATH": "/usr/bin:/bin", "HR_SCHEDULE_TIMEZONE": "Asia/Tokyo", "HR_HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines() == ["Asia/Tokyo 0 2 * * *", "Asia/Tokyo 0 6 * * *"]


def test_the_aggregates_ride_in_every_run_of_the_heart_rate_job() -> None:
    # No automation sensor evaluates every partition: the job the launchers use selects the aggregates.
    job = defs.resolve_job_def("hr_partition_job")
    assert {key for key in job.asset_layer.selected_asset_keys} == {INTRADAY_KEY, SUMMARY_KEY, *AGGREGATE_KEYS}
    assert sorted(sensor.name for sensor in defs.sensors or []) == ["hr_run_failure_sensor", "users_sensor"]


# --- asset checks of a real run ---------------------------------------------------------------

CHECK_DAY = date(2025, 6, 1)
CHECK_KEY = f"{CHECK_DAY.isoformat()}|crafted1"
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


def _sparse_summary(day: date) -> bytes:
    # Zone minutes that agree with 20 minutes of readings; resting heart rate inside 20..79.
    zones = [{"name": "Out of Range", "min": 30, "max": 94, "minutes": SPARSE_MINUTES}]
    return summary(day, resting=55, zones=zones)


def _materialize_crafted(
    db_url: str, receiver: Receiver, instance: dg.DagsterInstance, sources: SourceRegistry, raise_on_error: bool = True
) -> dg.ExecuteInProcessResult:
    """Every heart-rate asset for CHECK_KEY of the registered user 'crafted1'."""
    return dg.materialize(
        heart_rate_assets,
        instance=instance,
        partition_key=CHECK_KEY,
        resources=_resources(db_url, receiver.url, sources),
        raise_on_error=raise_on_error,
    )


def test_warning_checks_on_a_sparse_day_with_implausible_and_impossible_readings(
    db_url: str, conn: psycopg.Connection, receiver: Receiver
) -> None:
    sources = _crafted(_sparse_day, _sparse_summary)
    _register(conn, "crafted1", "Europe/Berlin", source="crafted")
    result = _materialize_crafted(db_url, receiver, _instance("crafted1"), sources)

    # Warnings do not block: the run succeeds and the aggregates are refreshed.
    assert result.success
    assert _materialized_nodes(result) == {key.to_user_string() for key in [INTRADAY_KEY, SUMMARY_KEY, *AGGREGATE_KEYS]}
    evaluations = _evaluations(result)
    assert all(e.partition == CHECK_KEY for e in evaluations.values())
    outcome = {key: (e.passed, e.severity) for key, e in evaluations.items()}
    warn, error = dg.AssetCheckSeverity.WARN, dg.AssetCheckSeverity.ERROR
    intraday_name, summary_name = INTRADAY_KEY.to_user_string(), SUMMARY_KEY.to_user_string()
    assert outcome == {
        (intraday_name, SCHEMA_CHECK): (True, error),
        (intraday_name, PLAUSIBILITY_CHECK): (False, warn),
        (intraday_name, COVERAGE_CHECK): (False, warn),
        (intraday_name, QUARANTINE_CHECK): (False, warn),
        (summary_name, SCHEMA_CHECK): (True, error),
        (summary_name, CONSISTENCY_CHECK): (True, warn),
        (summary_name, QUARANTINE_CHECK): (True, warn),
    }
    assert _values(evaluations[intraday_name, PLAUSIBILITY_CHECK])["implausible_bpm"] == len(LOW_BPM_MINUTES)
    coverage = _values(evaluations[intraday_name, COVERAGE_CHECK])
    assert coverage["covered_seconds"] == SPARSE_MINUTES * 60 and coverage["day_seconds"] == 24 * 3600
    assert coverage["coverage"] == pytest.approx(SPARSE_MINUTES / (24 * 60), abs=1e-4)
    assert _values(evaluations[intraday_name, QUARANTINE_CHECK])["quarantined"] == len(ZERO_BPM_TIMES)
    assert _values(evaluations[intraday_name, SCHEMA_CHECK])["rows"] == SPARSE_MINUTES
    consistency = _values(evaluations[summary_name, CONSISTENCY_CHECK])
    assert consistency["minutes_with_readings"] == SPARSE_MINUTES and consistency["min_bpm"] == 20

    # The quarantined records are on file, and warnings alert nobody.
    assert conn.execute("SELECT count(*) FROM quarantine WHERE user_id = 'crafted1'").fetchone() == (2,)
    assert receiver.received == []


def _overconfident_day(user_id: str, day: date) -> list[dict[str, Any]]:
    # A full day a reading a minute; Fitbit's confidence runs 0..3, and 9 is not rejected by the parser.
    return [{**reading, "confidence": 9 if n % 100 == 0 else 2} for n, reading in enumerate(every(60))]


def test_blocking_schema_error_alerts_and_keeps_the_aggregates_from_running(
    db_url: str, conn: psycopg.Connection, receiver: Receiver
) -> None:
    sources = _crafted(_overconfident_day)
    _register(conn, "crafted1", "Europe/Berlin", source="crafted")
    instance = _instance("crafted1")
    result = _materialize_crafted(db_url, receiver, instance, sources, raise_on_error=False)

    schema = _evaluations(result)[INTRADAY_KEY.to_user_string(), SCHEMA_CHECK]
    assert (schema.passed, schema.severity, schema.partition) == (False, dg.AssetCheckSeverity.ERROR, CHECK_KEY)
    assert _values(schema)["failures"] == len(range(0, 24 * 60, 100))
    failed_cases = json.loads(_values(schema)["failure_cases"])
    assert {(c["column"], c["failure_case"]) for c in failed_cases} == {("confidence", "9")}
    # A blocking check that fails with ERROR fails its step (the readings are written and
    # materialised, then refused), so the run fails too.
    assert not result.success
    assert [e.step_key for e in result.all_events if e.is_step_failure] == [INTRADAY_KEY.to_user_string()]
    # Blocked: nothing downstream of the raw readings ran in this run, not even the summary.
    assert _materialized_nodes(result) == {INTRADAY_KEY.to_user_string()}
    for key in AGGREGATE_KEYS:
        assert not instance.get_materialized_partitions(key)
    assert conn.execute("SELECT count(*) FROM activities_heart_intraday_1m").fetchone() == (0,)

    [alert] = receiver.received
    assert alert.content_type == "application/json"
    assert alert.body["event"] == "check_failed" and alert.body["severity"] == "error"
    assert alert.body["check"] == SCHEMA_CHECK and alert.body["asset"] == INTRADAY_KEY.to_user_string()
    assert alert.body["run_id"] == result.run_id and alert.body["source"] == "hr-pipeline"
    assert "schema" in alert.body["text"] and "activities_heart_intraday" in alert.body["text"]


# --- latest_day_loaded (the freshness job) ----------------------------------------------------


def _full_or_sparse_day(user_id: str, day: date) -> list[dict[str, Any]]:
    return _sparse_day(user_id, day) if user_id.startswith("sparse") else every(60)


def _ingest(db_url: str, partitions: list[UserDay], sources: SourceRegistry = SOURCES) -> None:
    """Both payloads of ``partitions`` loaded, as a run would load them."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        users = users_by_id(conn, sorted({p.user_id for p in partitions}))
    for payload in ("intraday", "summary"):
        report = ingest(Warehouse(db_url), sources, users, partitions, payload)
        assert not report.failures


def test_late_partitions_names_missing_and_incomplete_latest_days(db_url: str, conn: psycopg.Connection) -> None:
    sources = _crafted(_full_or_sparse_day)
    for user_id, zone in [
        ("tokyo", "Asia/Tokyo"),
        ("sparse-berlin", "Europe/Berlin"),
        ("angeles", "America/Los_Angeles"),
        ("retired", "UTC"),
    ]:
        _register(conn, user_id, zone, source="crafted")
    retire_user(conn, "retired")
    now = datetime(2025, 6, 10, 2, tzinfo=UTC)
    # Latest complete local days at that instant: Tokyo (11:00) and Berlin (04:00) the 9th,
    # Los Angeles (19:00 on the 9th) the 8th. Los Angeles has only its 7th loaded.
    loaded = [("tokyo", date(2025, 6, 9)), ("sparse-berlin", date(2025, 6, 9)), ("angeles", date(2025, 6, 7))]
    _ingest(db_url, [UserDay(*p) for p in loaded], sources)

    def keys(partitions: list[UserDay]) -> list[str]:
        return sorted(p.key for p in partitions)

    missing, incomplete, active = late_partitions(WarehouseResource(database_url=db_url), now, threshold=0.5)
    assert keys(missing) == ["2025-06-08|angeles"]
    assert keys(incomplete) == ["2025-06-09|sparse-berlin"]
    assert active == 3
    # With a threshold below Berlin's 20 minutes (1.4 %), only the missing day is late.
    missing, incomplete, _ = late_partitions(WarehouseResource(database_url=db_url), now, threshold=0.01)
    assert (keys(missing), incomplete) == (["2025-06-08|angeles"], [])
    # A day later, Tokyo's and Berlin's latest days are missing too.
    later, _, _ = late_partitions(WarehouseResource(database_url=db_url), now + timedelta(days=1), threshold=0.5)
    assert keys(later) == ["2025-06-09|angeles", "2025-06-10|sparse-berlin", "2025-06-10|tokyo"]


def test_freshness_job_fails_naming_the_late_user_then_passes_once_it_lands(
    db_url: str, conn: psycopg.Connection, receiver: Receiver, hr_home: Path
) -> None:
    sources = _crafted(_full_or_sparse_day)
    _register(conn, "tokyo", "Asia/Tokyo", source="crafted")
    _register(conn, "angeles", "America/Los_Angeles", source="crafted")
    _ingest(db_url, [UserDay("tokyo", _local_yesterday("Asia/Tokyo"))], sources)
    job = defs.resolve_job_def("hr_freshness_job")
    instance = _instance()

    late = job.execute_in_process(instance=instance, resources=_resources(db_url, receiver.url), raise_on_error=False)
    [check] = late.get_asset_check_evaluations()
    assert (check.asset_key, check.check_name) == (dg.AssetKey(USER_REGISTRY), LATEST_DAY_LOADED_CHECK)
    assert (check.passed, check.severity) == (False, dg.AssetCheckSeverity.ERROR)
    angeles_key = f"{_local_yesterday('America/Los_Angeles').isoformat()}|angeles"
    metadata = _values(check)
    assert metadata["late_users"] == "angeles"
    assert metadata["missing"] == [angeles_key] and metadata["incomplete"] == []
    assert metadata["active_users"] == 2
    # The study view's flags alongside: angeles (from 2025-01-01) has never had a reading.
    flagged = {k: v for k, v in metadata.items() if k.startswith("flagged_")}
    assert flagged == {"flagged_no_valid_day": "angeles", "flagged_no_data": "angeles", "flagged_needs_reconnect": ""}
    [alert] = receiver.received
    assert alert.body["event"] == "freshness" and alert.body["missing"] == [angeles_key]
    assert "angeles" in alert.body["text"]

    _ingest(db_url, [UserDay("angeles", _local_yesterday("America/Los_Angeles"))], sources)
    fresh = job.execute_in_process(instance=instance, resources=_resources(db_url, receiver.url))
    [check] = fresh.get_asset_check_evaluations()
    assert check.passed and _values(check)["late_users"] == ""
    assert _values(check)["flagged_no_valid_day"] == _values(check)["flagged_no_data"] == ""
    assert len(receiver.received) == 1  # no new alert


# --- alerts -----------------------------------------------------------------------------------

GHOST_KEY = "2025-06-01|ghost"


def _failed_ghost_run(
    db_url: str, conn: psycopg.Connection
) -> tuple[dg.DagsterInstance, dg.DagsterRun, dg.DagsterEvent]:
    """A run of a partition whose user is not in the registry: its intraday step fails."""
    _register(conn, "user1", "UTC")
    instance = _instance("user1", "ghost")
    result = dg.materialize(
        heart_rate_assets,
        instance=instance,
        partition_key=GHOST_KEY,
        resources=_resources(db_url),
        raise_on_error=False,
    )
    assert not result.success
    run = instance.get_run_by_id(result.run_id)
    assert run is not None
    [record] = instance.all_logs(result.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
    assert record.dagster_event is not None
    return instance, run, record.dagster_event


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


def test_run_failure_sensor_posts_the_failed_run_to_the_webhook(
    db_url: str, conn: psycopg.Connection, receiver: Receiver
) -> None:
    instance, run, event = _failed_ghost_run(db_url, conn)

    hr_run_failure_sensor(_run_failure_context(instance, run, event, AlertResource(webhook_url=receiver.url)))

    [alert] = receiver.received
    assert alert.content_type == "application/json"
    body = alert.body
    assert body["event"] == "run_failed" and body["severity"] == "error" and body["source"] == "hr-pipeline"
    assert body["run_id"] == run.run_id and body["job"] == run.job_name
    assert body["partition"] == GHOST_KEY
    assert body["text"] == f"hr-pipeline: run {run.run_id[:8]} of {run.job_name} failed ({GHOST_KEY})"
    assert "activities_heart_intraday" in body["error"]


def test_run_failure_message_of_a_range_run_names_the_range() -> None:
    run = dg.DagsterRun(
        job_name="hr_partition_job",
        run_id="0123456789abcdef",
        tags={
            "dagster/asset_partition_range_start": "2025-06-01|user1",
            "dagster/asset_partition_range_end": "2025-06-03|user2",
        },
    )
    text, details = run_failure_message(run, "boom")
    assert text == "hr-pipeline: run 01234567 of hr_partition_job failed (2025-06-01|user1..2025-06-03|user2)"
    assert details == {
        "job": "hr_partition_job",
        "run_id": "0123456789abcdef",
        "partition": "2025-06-01|user1..2025-06-03|user2",
        "error": "boom",
    }
    unpartitioned, details = run_failure_message(dg.DagsterRun(job_name="hr_freshness_job", run_id="ffff0000"), None)
    assert unpartitioned == "hr-pipeline: run ffff0000 of hr_freshness_job failed" and details["partition"] is None


def test_run_failure_sensor_without_a_webhook_sends_nothing_and_does_not_fail(
    db_url: str, conn: psycopg.Connection, receiver: Receiver
) -> None:
    instance, run, event = _failed_ghost_run(db_url, conn)
    hr_run_failure_sensor(_run_failure_context(instance, run, event, AlertResource()))
    assert receiver.received == []
    assert AlertResource().send("run_failed", "text") is False


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def garbage_server() -> Iterator[str]:
    """A 'webhook' that answers each request with something that is not HTTP."""

    class Garbage(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            self.request.recv(65536)
            self.wfile.write(b"garbage\r\n\r\n")

    with _serving(socketserver.ThreadingTCPServer(("127.0.0.1", 0), Garbage)) as port:
        yield f"http://127.0.0.1:{port}/hook"


def test_an_unreachable_or_misconfigured_webhook_never_raises(receiver: Receiver, garbage_server: str) -> None:
    # An alert must not turn into a second failure: post_alert promises never to raise.
    for url in [
        f"http://127.0.0.1:{_closed_port()}/hook",  # nobody listening
        garbage_server,  # not an HTTP server
        "http://127.0.0.1:eighty/hook",  # a typo in HR_ALERT_WEBHOOK_URL
        "hooks.example.com/services/T000",  # no scheme
    ]:
        assert post_alert(url, {"event": "x"}) is False, url
        assert AlertResource(webhook_url=url).send("run_failed", "text") is False, url
    assert AlertResource(webhook_url=receiver.url).send("run_failed", "text", run_id="r1") is True
    assert [r.body for r in receiver.received] == [
        {"source": "hr-pipeline", "event": "run_failed", "severity": "error", "text": "text", "run_id": "r1"}
    ]


def test_a_webhook_answering_an_error_status_is_reported_as_not_accepted() -> None:
    received: list[Received] = []
    with _serving(ThreadingHTTPServer(("127.0.0.1", 0), _webhook_handler(received, 500))) as port:
        assert post_alert(f"http://127.0.0.1:{port}/hook", {"event": "x"}) is False
    assert len(received) == 1  # delivered, but refused


# --- retries ----------------------------------------------------------------------------------


def test_a_refused_connection_is_transient() -> None:
    with pytest.raises(psycopg.OperationalError) as refused:
        psycopg.connect(f"postgresql://hr@127.0.0.1:{_closed_port()}/hr", connect_timeout=5)
    assert is_transient(refused.value)


@pytest.mark.parametrize(
    "error",
    [psycopg.errors.SerializationFailure(), psycopg.errors.DeadlockDetected(), psycopg.errors.AdminShutdown()],
    ids=lambda e: type(e).__name__,
)
def test_lost_races_and_shutdowns_are_transient(error: Exception) -> None:
    assert is_transient(error)


@pytest.mark.parametrize(
    "error",
    [psycopg.errors.DataError(), psycopg.errors.UniqueViolation(), psycopg.errors.QueryCanceled(), ValueError("x")],
    ids=lambda e: type(e).__name__,
)
def test_data_errors_are_not_transient(error: Exception) -> None:
    assert not is_transient(error)


def test_errors_from_a_real_server_are_classified(conn: psycopg.Connection, db_url: str) -> None:
    with pytest.raises(psycopg.errors.UniqueViolation) as duplicate:
        _register(conn, "twice", "UTC")
        conn.execute(
            "INSERT INTO users (id, display_name, timezone, source, seed, start_date) "
            "SELECT id, display_name, timezone, source, seed, start_date FROM users WHERE id = 'twice'"
        )
    assert not is_transient(duplicate.value)
    with pytest.raises(psycopg.errors.InvalidTextRepresentation) as bad_data:
        conn.execute("SELECT 'sixty'::smallint")
    assert not is_transient(bad_data.value)
    # The server ending a session (as a restart or a failover does) is worth a retry.
    with psycopg.connect(db_url, autocommit=True) as victim:
        pid = victim.info.backend_pid
        conn.execute("SELECT pg_terminate_backend(%s)", [pid])
        with pytest.raises(psycopg.OperationalError) as terminated:
            victim.execute("SELECT 1")
    assert is_transient(terminated.value)


def test_a_user_not_started_yet_is_not_late(db_url: str, conn: psycopg.Connection) -> None:
    now = datetime(2025, 6, 10, 7, 0, tzinfo=UTC)
    _register(conn, "soon", "UTC", start=date(2025, 6, 20))
    _register(conn, "started", "UTC", start=date(2025, 6, 1))
    missing, incomplete, active = late_partitions(WarehouseResource(database_url=db_url), now, threshold=0.5)
    assert (missing, incomplete, active) == ([UserDay("started", date(2025, 6, 9))], [], 2)
