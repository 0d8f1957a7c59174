"""The users sensor: the registry's users become Dagster partitions, their history ranged runs."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import dagster as dg
import psycopg
import psycopg.errors

from hr_assets.definitions import defs
from hr_assets.defs.common import HISTORY_USER_TAG, PURPOSE_TAG
from hr_assets.defs.heart_rate.partitions import USERS_PARTITION_NAME
from hr_assets.domain.planning import HISTORY_DAYS_PER_RUN, HISTORY_DAYS_PER_TICK, PartitionRange
from hr_assets.domain.user_day import UserDay
from hr_assets.warehouse.users import retire_user
from hr_assets_tests.integration.orchestration import (
    AGGREGATE_KEYS,
    INTRADAY_KEY,
    SUMMARY_KEY,
    _days,
    _evaluate_users_sensor,
    _ingest,
    _instance,
    _local_yesterday,
    _range,
    _register,
    _resources,
)

# --- users_sensor -----------------------------------------------------------------------------


def _apply_partition_requests(instance: dg.DagsterInstance, result: dg.SensorResult) -> None:
    """What the sensor daemon does with a result's partition requests."""
    for request in result.dynamic_partitions_requests or []:
        if isinstance(request, dg.AddDynamicPartitionsRequest):
            instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
        else:
            for key in request.partition_keys:
                instance.delete_dynamic_partition(request.partitions_def_name, key)


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
