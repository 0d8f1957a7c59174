"""The nightly schedule and the heart-rate job it runs: each user's last complete local days."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import psycopg
import psycopg.errors
import pytest

from hr_assets.definitions import defs
from hr_assets.defs.common import NIGHTLY_PRIORITY, PURPOSE_TAG
from hr_assets.defs.heart_rate.partitions import USERS_PARTITION_NAME
from hr_assets.defs.heart_rate.schedules import hr_nightly_schedule
from hr_assets.domain.user_day import UserDay
from hr_assets.resources import WarehouseResource
from hr_assets.warehouse.users import retire_user
from hr_assets_tests.integration.orchestration import (
    AGGREGATE_KEYS,
    INTRADAY_KEY,
    SUMMARY_KEY,
    _range,
    _register,
)

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
