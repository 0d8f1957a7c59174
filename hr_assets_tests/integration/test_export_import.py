"""A real user's export, end to end: register the folder, backfill through Dagster, see the data."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import psycopg
import pytest
from click.testing import CliRunner

from hr_assets.cli import main
from hr_assets.defs.heart_rate.assets import heart_rate_assets
from hr_assets.defs.heart_rate.partitions import USERS_PARTITION_NAME
from hr_assets.local.alerts import AlertResource
from hr_assets.resources import WarehouseResource
from hr_assets.sources import SOURCES

ZONE = "America/New_York"
# Readings every 10 s across two UTC days around New York's 2024-11-03 fall-back.
FIRST = datetime(2024, 11, 2, 0, 0, tzinfo=UTC)
LAST = datetime(2024, 11, 4, 0, 0, tzinfo=UTC)


def _bpm(instant: datetime) -> int:
    return 50 + int(instant.timestamp()) // 600 % 60


def _write_export(root: Path) -> None:
    folder = root / "Takeout" / "Fitbit" / "Global Export Data"
    folder.mkdir(parents=True)
    by_day: dict[date, list[dict[str, object]]] = {}
    instant = FIRST
    while instant < LAST:
        by_day.setdefault(instant.date(), []).append(
            {"dateTime": instant.strftime("%m/%d/%y %H:%M:%S"), "value": {"bpm": _bpm(instant), "confidence": 2}}
        )
        instant += timedelta(seconds=10)
    by_day[date(2024, 11, 3)].append({"dateTime": "11/03/24 12:00:05", "value": {"bpm": 0, "confidence": 1}})
    for day, records in by_day.items():
        (folder / f"heart_rate-{day.isoformat()}.json").write_text(json.dumps(records))
    (folder / "resting_heart_rate-2024-11-01.json").write_text(
        json.dumps(
            [
                {"dateTime": "11/02/24 00:00:00", "value": {"date": "11/02/24", "value": 57.4, "error": 6.1}},
                {"dateTime": "11/03/24 00:00:00", "value": {"date": "11/03/24", "value": 0.0, "error": 0.0}},
            ]
        )
    )


def test_register_export_backfill_and_see_the_data(hr_home: Path, conn: psycopg.Connection, tmp_path: Path) -> None:
    _write_export(tmp_path / "export")
    added = CliRunner().invoke(
        main,
        [
            "users",
            "add",
            "dana",
            "--timezone",
            ZONE,
            "--source",
            "fitbit_export",
            "--export-path",
            str(tmp_path / "export"),
        ],
    )
    assert added.exit_code == 0, added.output
    # New York is behind UTC: the first file day's readings start on the previous local date.
    assert conn.execute("SELECT start_date FROM users").fetchone() == (date(2024, 11, 1),)

    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(USERS_PARTITION_NAME, ["dana"])
    job = dg.Definitions(
        assets=heart_rate_assets,
        jobs=[dg.define_asset_job("backfill")],
        resources={"warehouse": WarehouseResource(), "alerts": AlertResource(), "sources": SOURCES},
    ).resolve_job_def("backfill")
    result = job.execute_in_process(
        instance=instance,
        tags={
            "dagster/asset_partition_range_start": "2024-11-01|dana",
            "dagster/asset_partition_range_end": "2024-11-03|dana",
        },
    )
    assert result.success

    # Every reading of the two UTC days, stored once, except the impossible one.
    expected = int((LAST - FIRST).total_seconds()) // 10
    assert conn.execute("SELECT count(*), min(time), max(time) FROM activities_heart_intraday").fetchone() == (
        expected,
        FIRST,
        LAST - timedelta(seconds=10),
    )
    sample = FIRST + timedelta(hours=30, seconds=40)
    assert conn.execute(
        "SELECT bpm, confidence FROM activities_heart_intraday WHERE time = %s", (sample,)
    ).fetchone() == (_bpm(sample), 2)
    # The fall-back day is 25 hours long and holds every one of its readings.
    local_days = dict(
        conn.execute(
            "SELECT (time AT TIME ZONE %s)::date, count(*) FROM activities_heart_intraday GROUP BY 1", (ZONE,)
        ).fetchall()
    )
    fall_back_start = datetime(2024, 11, 3, tzinfo=ZoneInfo(ZONE))
    assert local_days[date(2024, 11, 3)] == min(25 * 360, int((LAST - fall_back_start).total_seconds()) // 10)
    [(record, reason)] = conn.execute("SELECT record, reason FROM quarantine").fetchall()
    assert '"value": 0' in record and "impossible bpm 0" in reason
    # The reason names the file and the record's place in it (8,640 readings of the day come before it).
    assert "(Takeout/Fitbit/Global Export Data/heart_rate-2024-11-03.json[8640]): impossible bpm 0" in reason
    assert conn.execute("SELECT date, resting_heart_rate FROM activities_heart_summary ORDER BY 1").fetchall() == [
        (date(2024, 11, 2), 57)
    ]
    hourly = conn.execute("SELECT sum(sample_count) FROM activities_heart_intraday_1h").fetchone()
    assert hourly == (expected,)


@pytest.mark.parametrize("content", ["", '[{"dateTime": "11/02/24 00:00:00"'])
def test_unreadable_export_file_fails_its_partition_naming_the_file(
    hr_home: Path, conn: psycopg.Connection, tmp_path: Path, content: str
) -> None:
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "heart_rate-2024-11-02.json").write_text(content)
    assert (
        CliRunner()
        .invoke(
            main,
            ["users", "add", "erin", "--timezone", "UTC", "--source", "fitbit_export", "--export-path", str(folder)],
        )
        .exit_code
        == 0
    )
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(USERS_PARTITION_NAME, ["erin"])
    result = dg.materialize(
        heart_rate_assets[:1],
        instance=instance,
        partition_key="2024-11-02|erin",
        resources={"warehouse": WarehouseResource(), "alerts": AlertResource(), "sources": SOURCES},
        raise_on_error=False,
    )
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    assert "heart_rate-2024-11-02.json" in str(failure.step_failure_data.error)
    assert conn.execute("SELECT count(*) FROM activities_heart_intraday").fetchone() == (0,)


def test_time_zone_change_between_days_keeps_every_reading_once(
    hr_home: Path, conn: psycopg.Connection, tmp_path: Path
) -> None:
    # A traveller's watch: readings every 30 s in UTC; Berlin on 2024-06-01, Tokyo from 2024-06-02.
    folder = tmp_path / "export"
    folder.mkdir()
    start, end = datetime(2024, 5, 31, tzinfo=UTC), datetime(2024, 6, 4, tzinfo=UTC)
    rows: dict[date, list[str]] = {}
    instant = start
    while instant < end:
        rows.setdefault(instant.date(), []).append(f"{instant:%Y-%m-%dT%H:%M:%SZ},{_bpm(instant)},watch")
        instant += timedelta(seconds=30)
    for day, lines in rows.items():
        (folder / f"heart_rate_{day.isoformat()}.csv").write_text(
            "timestamp,beats per minute,data source\n" + "\n".join(lines) + "\n"
        )
    runner = CliRunner()
    assert (
        runner.invoke(
            main,
            [
                "users",
                "add",
                "tom",
                "--timezone",
                "Europe/Berlin",
                "--source",
                "fitbit_export",
                "--export-path",
                str(folder),
            ],
        ).exit_code
        == 0
    )
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(USERS_PARTITION_NAME, ["tom"])
    resources = {"warehouse": WarehouseResource(), "alerts": AlertResource(), "sources": SOURCES}

    def load(key: str) -> None:
        assert dg.materialize(heart_rate_assets, instance=instance, partition_key=key, resources=resources).success

    load("2024-06-01|tom")
    assert runner.invoke(main, ["users", "update", "tom", "--timezone", "Asia/Tokyo"]).exit_code == 0
    load("2024-06-02|tom")
    # Berlin's 2024-06-01 ends at 22:00 UTC; Tokyo's 2024-06-02 began at 15:00 UTC on 06-01.
    first = datetime(2024, 5, 31, 22, tzinfo=UTC)
    last = datetime(2024, 6, 2, 15, tzinfo=UTC)
    expected = int((last - first).total_seconds()) // 30
    stored = conn.execute(
        "SELECT count(*), count(DISTINCT time), min(time), max(time) FROM activities_heart_intraday"
    ).fetchone()
    assert stored == (expected, expected, first, last - timedelta(seconds=30))
    wrong = conn.execute("SELECT time, bpm FROM activities_heart_intraday").fetchall()
    assert [(t, b) for t, b in wrong if b != _bpm(t)] == []
    # Re-loading the Tokyo day changes nothing.
    before = conn.execute(
        "SELECT md5(string_agg(time::text || bpm, ',' ORDER BY time)) FROM activities_heart_intraday"
    ).fetchone()
    load("2024-06-02|tom")
    assert (
        conn.execute(
            "SELECT md5(string_agg(time::text || bpm, ',' ORDER BY time)) FROM activities_heart_intraday"
        ).fetchone()
        == before
    )
