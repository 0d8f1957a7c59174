"""The Dagster wiring on a real database: definitions, single partitions, ranges, the CLI."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import psycopg
import pytest

from hr_assets.definitions import defs
from hr_assets.defs.heart_rate.assets import heart_rate_assets
from hr_assets.defs.heart_rate.partitions import USERS_PARTITION_NAME
from hr_assets.domain.ingest import ingest
from hr_assets.domain.user_day import UserDay
from hr_assets.domain.user_setup import DEFAULT_USERS_HISTORY_DAYS
from hr_assets.local.alerts import AlertResource
from hr_assets.resources import WarehouseResource
from hr_assets.settings import PROJECT_ROOT
from hr_assets.sources import SOURCES, DayPayloads, PayloadKind, SourceRegistry, UserProfile
from hr_assets.warehouse.db import Warehouse
from hr_assets.warehouse.users import NewUser, add_user, users_by_id
from hr_assets_tests.conftest import MATERIALIZE_HEART_RATE
from hr_assets_tests.payloads import every, intraday, summary

CHECKSUM = """
SELECT md5(coalesce(string_agg(user_id || time::text || bpm::text, ',' ORDER BY user_id, time), '')), count(*)
FROM activities_heart_intraday
"""
ASSET_NAMES = {
    "activities_heart_intraday",
    "activities_heart_summary",
    "activities_heart_intraday_1m",
    "activities_heart_intraday_1h",
    "activities_heart_intraday_1d",
}


def _resources(db_url: str, sources: SourceRegistry = SOURCES) -> dict[str, object]:
    return {"warehouse": WarehouseResource(database_url=db_url), "alerts": AlertResource(), "sources": sources}


def _register(
    conn: psycopg.Connection,
    user_id: str,
    timezone: str,
    seed: int,
    source: str = "simulated",
    sources: SourceRegistry = SOURCES,
) -> None:
    new = NewUser(user_id, timezone, date(2025, 1, 1), source=source, seed=seed)
    add_user(conn, new, known_sources=sources.kinds)


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.DagsterInstance.ephemeral() as inst:
        inst.add_dynamic_partitions(USERS_PARTITION_NAME, ["user1", "user2"])
        yield inst


@pytest.fixture
def users(conn: psycopg.Connection) -> None:
    _register(conn, "user1", "Europe/Berlin", 23)
    _register(conn, "user2", "America/New_York", 37)


def test_definitions_load_with_every_asset() -> None:
    dg.Definitions.validate_loadable(defs)
    keys = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    assert keys >= ASSET_NAMES


def test_materialise_one_partition(
    db_url: str, conn: psycopg.Connection, users: None, instance: dg.DagsterInstance
) -> None:
    result = dg.materialize(
        heart_rate_assets,
        instance=instance,
        partition_key="2025-06-01|user1",
        resources=_resources(db_url),
    )
    assert result.success
    [intraday] = [m for m in result.asset_materializations_for_node("activities_heart_intraday")]
    metadata = {key: value.value for key, value in intraday.metadata.items()}
    count = conn.execute("SELECT count(*) FROM activities_heart_intraday").fetchone()
    assert count is not None and metadata["rows_written"] == count[0] > 5000
    assert metadata["mode"] == "postgres" and metadata["partitions"] == 1
    assert metadata["time_range"] == "2025-06-01..2025-06-01"
    # The partition is Berlin's local day: 2025-05-31 22:00 UTC to 2025-06-01 22:00 UTC.
    bounds = conn.execute(
        "SELECT min(time) >= '2025-05-31 22:00+00' AND max(time) < '2025-06-01 22:00+00' FROM activities_heart_intraday"
    ).fetchone()
    assert bounds == (True,)
    assert conn.execute("SELECT count(*) FROM activities_heart_summary").fetchone() == (1,)
    one_day = conn.execute("SELECT sum(sample_count) FROM activities_heart_intraday_1d").fetchone()
    assert one_day == count


def test_materialise_a_range_of_three_days_and_two_users(
    db_url: str, conn: psycopg.Connection, users: None, instance: dg.DagsterInstance, hr_home: Path
) -> None:
    job = defs.resolve_job_def("hr_partition_job")
    tags = {
        "dagster/asset_partition_range_start": "2025-06-01|user1",
        "dagster/asset_partition_range_end": "2025-06-03|user2",
    }
    assert job.execute_in_process(instance=instance, tags=tags).success
    per_partition = conn.execute(
        "SELECT user_id, count(DISTINCT (time AT TIME ZONE u.timezone)::date) FROM activities_heart_intraday "
        "JOIN users u ON u.id = user_id GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert per_partition == [("user1", 3), ("user2", 3)]
    assert conn.execute("SELECT count(*) FROM activities_heart_summary").fetchone() == (6,)
    reference = conn.execute(
        "SELECT user_id, date_trunc('hour', time), count(*), min(bpm), max(bpm) "
        "FROM activities_heart_intraday GROUP BY 1, 2 ORDER BY 1, 2"
    ).fetchall()
    hourly = conn.execute(
        "SELECT user_id, bucket, sample_count, min_bpm, max_bpm FROM activities_heart_intraday_1h ORDER BY 1, 2"
    ).fetchall()
    assert hourly == reference

    # Materialising again leaves every table exactly as it was.
    before = conn.execute(CHECKSUM).fetchone()
    hourly_before = conn.execute("SELECT * FROM activities_heart_intraday_1h ORDER BY 1, 2").fetchall()
    assert job.execute_in_process(instance=instance, tags=tags).success
    assert conn.execute(CHECKSUM).fetchone() == before
    assert conn.execute("SELECT * FROM activities_heart_intraday_1h ORDER BY 1, 2").fetchall() == hourly_before
    materialized = instance.get_materialized_partitions(dg.AssetKey("activities_heart_intraday_1d"))
    assert len(materialized) == 6


def test_unregistered_user_fails_clearly_and_writes_nothing(
    db_url: str, conn: psycopg.Connection, users: None, instance: dg.DagsterInstance
) -> None:
    instance.add_dynamic_partitions(USERS_PARTITION_NAME, ["ghost"])
    result = dg.materialize(
        heart_rate_assets,
        instance=instance,
        partition_key="2025-06-01|ghost",
        resources=_resources(db_url),
        raise_on_error=False,
    )
    assert not result.success
    failures = {e.step_key: str(e.step_failure_data.error) for e in result.all_events if e.is_step_failure}
    # The summary waits for the intraday readings it is checked against, so it never starts.
    assert set(failures) == {"activities_heart_intraday"}
    assert "no user 'ghost' in the registry" in failures["activities_heart_intraday"]
    # Nothing else was loaded and nothing was quarantined: the message does not say so.
    assert "1 of 1 intraday partition(s) could not be loaded:" in failures["activities_heart_intraday"]
    assert conn.execute("SELECT count(*) FROM activities_heart_intraday").fetchone() == (0,)


class _MalformedSource:
    """A source whose intraday payload is truncated JSON, as a broken export file would be."""

    kind = "broken"

    def fetch_day(self, user: UserProfile, day: date, *, only: PayloadKind | None = None) -> DayPayloads:
        return DayPayloads(
            intraday=b'{"activities-heart-intraday": {"dataset": [{"time": "00:00:0',
            summary=summary(day),
            origin="heart_rate-broken.json",
        )

    def available_dates(self, user: UserProfile) -> None:
        return None


def test_malformed_payload_fails_clearly_writes_nothing_and_is_quarantined(
    db_url: str, conn: psycopg.Connection, instance: dg.DagsterInstance
) -> None:
    sources = SOURCES.with_sources(_MalformedSource())
    _register(conn, "user1", "UTC", 1, source="broken", sources=sources)
    result = dg.materialize(
        [heart_rate_assets[0]],
        instance=instance,
        partition_key="2025-06-01|user1",
        resources=_resources(db_url, sources),
        raise_on_error=False,
    )
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    message = str(failure.step_failure_data.error)
    assert "heart_rate-broken.json" in message and "not valid JSON" in message
    assert "could not be loaded (refused payloads are in the quarantine table):" in message
    assert conn.execute("SELECT count(*) FROM activities_heart_intraday").fetchone() == (0,)
    quarantined = conn.execute("SELECT payload, source, left(record, 30), reason FROM quarantine").fetchone()
    assert quarantined is not None
    assert quarantined[:3] == ("intraday", "broken:heart_rate-broken.json", '{"activities-heart-intraday": ')
    assert "not valid JSON" in quarantined[3]


def _hr(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    hr = str(Path(sys.executable).parent / "hr")
    return subprocess.run([hr, *args], env=env, capture_output=True, text=True, timeout=600, check=False)


def test_cli_setup_then_dagster_asset_materialize_partition_range(
    db_url: str, conn: psycopg.Connection, hr_home: Path
) -> None:
    env = {**os.environ, "HR_DATABASE_URL": db_url, "HR_HOME": str(hr_home)}
    setup = _hr(["setup"], env)
    assert setup.returncode == 0, setup.stderr
    assert "registered default users: user1, user2" in setup.stdout
    # The partition space starts at the earliest start date: the demo users' first day, DEFAULT_USERS_HISTORY_DAYS ago.
    first = date.today() - timedelta(days=DEFAULT_USERS_HISTORY_DAYS)
    last = first + timedelta(days=2)
    materialize = _hr([*MATERIALIZE_HEART_RATE, "--partition-range", f"{first}|user1...{last}|user2"], env)
    assert materialize.returncode == 0, materialize.stderr[-3000:]
    rows = conn.execute("SELECT user_id, count(*) FROM activities_heart_summary GROUP BY 1 ORDER BY 1").fetchall()
    assert rows == [("user1", 3), ("user2", 3)]
    assert conn.execute("SELECT count(DISTINCT user_id) FROM activities_heart_intraday_1d").fetchone() == (2,)
    # The runs went into Dagster's PostgreSQL storage (dagster.yaml), in the same server.
    runs = conn.execute("SELECT count(*) FROM runs WHERE status = 'SUCCESS'").fetchone()
    assert runs == (1,)
    # Each asset's six partitions were recorded, though written in batches (DAGSTER_EVENT_BATCH_SIZE).
    materialized = conn.execute(
        "SELECT asset_key, count(DISTINCT partition) FROM event_logs "
        "WHERE dagster_event_type = 'ASSET_MATERIALIZATION' GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert [count for _, count in materialized] == [6] * len(heart_rate_assets)


class _NulSource(_MalformedSource):
    """Binary garbage with a NUL byte, which PostgreSQL text cannot hold as it is."""

    kind = "nul"

    def fetch_day(self, user: UserProfile, day: date, *, only: PayloadKind | None = None) -> DayPayloads:
        return DayPayloads(intraday=b"\x00\x01 not json", summary=summary(day), origin="garbage.bin")


def test_intraday_analyzes_after_a_large_load_and_loads_on_when_it_cannot(
    db_url: str, conn: psycopg.Connection, users: None, instance: dg.DagsterInstance
) -> None:
    def intraday_metadata(day: str) -> dict[str, object]:
        result = dg.materialize(
            [heart_rate_assets[0]], instance=instance, partition_key=f"{day}|user1", resources=_resources(db_url)
        )
        assert result.success
        [intraday] = result.asset_materializations_for_node("activities_heart_intraday")
        return {key: value.value for key, value in intraday.metadata.items()}

    assert intraday_metadata("2025-06-01")["table_analyzed"] is True  # the table was empty
    with psycopg.connect(db_url) as blocker:
        # An autovacuum-like lock holder: ANALYZE gives up after its lock timeout, the load stands.
        blocker.execute("LOCK TABLE activities_heart_intraday IN SHARE UPDATE EXCLUSIVE MODE")
        second = intraday_metadata("2025-06-02")
    assert second["table_analyzed"] is False
    loaded = conn.execute("SELECT count(*) FROM activities_heart_intraday WHERE time >= '2025-06-01 22:00+00'")
    assert loaded.fetchone() == (second["rows_written"],)


class _OnePayloadSource:
    """Serves only the payload it is asked for, and remembers what it was asked."""

    kind = "one-payload"

    def __init__(self) -> None:
        self.asked: list[PayloadKind | None] = []

    def fetch_day(self, user: UserProfile, day: date, *, only: PayloadKind | None = None) -> DayPayloads:
        self.asked.append(only)
        return DayPayloads(
            intraday=intraday(every(60)) if only != "summary" else b"",
            summary=summary(day) if only != "intraday" else b"",
        )

    def available_dates(self, user: UserProfile) -> None:
        return None


def test_ingest_asks_the_source_for_the_payload_it_loads(db_url: str, conn: psycopg.Connection) -> None:
    source = _OnePayloadSource()
    sources = SOURCES.with_sources(source)
    _register(conn, "user1", "UTC", 1, source=source.kind, sources=sources)
    registry = users_by_id(conn, ["user1"])
    for payload in ("intraday", "summary"):
        report = ingest(Warehouse(db_url), sources, registry, [UserDay("user1", date(2025, 6, 1))], payload)
        assert not report.failures and report.total("rows_written") == (1440 if payload == "intraday" else 1)
    assert source.asked == ["intraday", "summary"]


def test_ingest_logs_each_failure_where_it_happens_and_the_totals_at_the_end(
    db_url: str, conn: psycopg.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    sources = SOURCES.with_sources(_MalformedSource())
    _register(conn, "user1", "UTC", 1, source="broken", sources=sources)
    _register(conn, "user2", "UTC", 2)
    partitions = [
        UserDay("user1", date(2025, 6, 1)),
        UserDay("user2", date(2025, 6, 1)),
        UserDay("user2", date(2025, 6, 2)),
    ]
    caplog.set_level(logging.INFO, logger="hr_assets")
    report = ingest(Warehouse(db_url), sources, users_by_id(conn, ["user1", "user2"]), partitions, "intraday")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert warnings[0].startswith("intraday user1 2025-06-01 not loaded:") and "heart_rate-broken.json" in warnings[0]
    rows = report.total("rows_written")
    assert rows > 0
    assert report.total("rows_quarantined") == 0
    assert caplog.records[-1].getMessage() == (
        f"intraday: 3 of 3 partition(s) done, {rows:,} rows written, 0 quarantined (hr quarantine), 1 failed"
    )


def test_payload_with_a_nul_byte_is_refused_and_kept(db_url: str, conn: psycopg.Connection) -> None:
    sources = SOURCES.with_sources(_NulSource())
    _register(conn, "user1", "UTC", 1, source="nul", sources=sources)
    one_day = [UserDay("user1", date(2025, 6, 1))]
    report = ingest(Warehouse(db_url), sources, users_by_id(conn, ["user1"]), one_day, "intraday")
    [failure] = report.failures
    assert failure.error is not None and "not valid JSON" in failure.error
    assert conn.execute("SELECT record FROM quarantine").fetchone() == ("\\u0000\x01 not json",)


def test_dg_check_defs_loads_the_project(tmp_path: Path) -> None:
    """The dg layout: `dg check defs` finds the definitions under hr_assets/defs."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DAGSTER_HOME": str(tmp_path),  # an empty instance: nothing to connect to
        "VIRTUAL_ENV": str(Path(sys.executable).parent.parent),
        "HR_HOME": str(tmp_path / "hr"),
    }
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    dg_cli = str(Path(sys.executable).parent / "dg")
    checked = subprocess.run(
        [dg_cli, "check", "defs"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert checked.returncode == 0, checked.stdout[-2000:] + checked.stderr[-2000:]
    assert "All definitions loaded successfully" in checked.stdout + checked.stderr
    listed = subprocess.run(
        [dg_cli, "list", "defs", "--json"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert listed.returncode == 0, listed.stderr[-2000:]
    assert {"hr_nightly_schedule", "users_sensor", "activities_heart_intraday"} <= set(
        re.findall(r'"(\w+)"', listed.stdout)
    )
