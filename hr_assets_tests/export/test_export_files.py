"""``hr export`` to a folder: every table read back with DuckDB and polars and compared with the warehouse."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import psycopg
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from hr_assets.domain.export import TABLES
from hr_assets.domain.export_runner import ExportRequest, run_export
from hr_assets.warehouse.db import Warehouse
from hr_assets_tests.export.helpers import DST_DAY, ZONES, duck, table_glob, warehouse_days

ALL_TABLES = ("readings", "minute", "hour", "day", "summary", "zones", "quarantine", "participants")


@pytest.fixture
def exported(export_db: str, tmp_path: Path) -> Path:
    root = tmp_path / "study"
    summary = run_export(Warehouse(export_db), ExportRequest(str(root), tables=ALL_TABLES))
    assert not summary.failures
    return root


def test_readings_per_participant_day_match_the_warehouse_in_duckdb(export_db: str, exported: Path) -> None:
    rows = duck(
        "SELECT user_id, local_date, count(*), sum(bpm), min(bpm), max(bpm), min(time), max(time) "
        "FROM read_parquet(?, hive_partitioning = true, hive_types = {'user_id': VARCHAR}) GROUP BY ALL",
        table_glob(exported, "readings"),
    )
    exported_days = {(r[0], r[1]): (r[2], r[3], r[4], r[5], r[6], r[7]) for r in rows}
    expected = {key: figures[:6] for key, figures in warehouse_days(export_db).items()}
    assert exported_days == expected
    assert len(expected) == len(ZONES) * 3


def test_readings_match_in_polars_and_carry_the_local_day_on_dst_and_quarter_hour_zones(
    export_db: str, exported: Path
) -> None:
    frame = pl.scan_parquet(table_glob(exported, "readings"), hive_partitioning=True).collect()
    assert frame.schema["time"] == pl.Datetime("us", "UTC")
    assert frame.schema["bpm"] == pl.Int16 and frame.schema["utc_offset_minutes"] == pl.Int16
    per_day = frame.group_by("user_id", "local_date").agg(pl.len(), pl.col("bpm").cast(pl.Int64).sum())
    expected = {key: (f[0], f[1]) for key, f in warehouse_days(export_db).items()}
    assert {(r[0], r[1]): (r[2], r[3]) for r in per_day.iter_rows()} == expected

    berlin_dst = frame.filter((pl.col("user_id") == "zurich-one") & (pl.col("local_date") == DST_DAY))
    # Berlin's 2024-03-31 runs from 23:00 UTC the day before to 22:00 UTC: 23 hours, +1:00 then +2:00.
    assert berlin_dst["time"].min() >= datetime(2024, 3, 30, 23, tzinfo=UTC)
    assert berlin_dst["time"].max() < datetime(2024, 3, 31, 22, tzinfo=UTC)
    assert set(berlin_dst["utc_offset_minutes"]) == {60, 120}
    kathmandu = frame.filter(pl.col("user_id") == "kathmandu-two")
    assert set(kathmandu["utc_offset_minutes"]) == {345}
    # The local day starts at 18:15 UTC the day before: every reading's local date is its UTC time + 5:45.
    shifted = kathmandu.select((pl.col("time") + timedelta(minutes=345)).dt.date() == pl.col("local_date"))
    assert shifted.to_series().all()


def test_rollups_and_daily_tables_match_the_warehouse(export_db: str, exported: Path) -> None:
    with psycopg.connect(export_db, options="-c timezone=UTC") as conn:
        for table, relation in (("minute", "activities_heart_intraday_1m"), ("hour", "activities_heart_intraday_1h")):
            stored = conn.execute(
                f"SELECT user_id, count(*), sum(sum_bpm), sum(sample_count), min(bucket), max(bucket) "  # noqa: S608
                f"FROM {relation} GROUP BY user_id ORDER BY user_id"
            ).fetchall()
            read = duck(
                "SELECT user_id, count(*), sum(sum_bpm), sum(sample_count), min(bucket), max(bucket) "
                "FROM read_parquet(?, hive_partitioning = true) GROUP BY user_id ORDER BY user_id",
                table_glob(exported, table),
            )
            assert [tuple(r) for r in stored] == read, table
        daily = conn.execute(
            "SELECT user_id, date, sample_count, sum_bpm, min_bpm, max_bpm FROM activities_heart_daily ORDER BY 1, 2"
        ).fetchall()
        summaries = conn.execute(
            "SELECT user_id, date, resting_heart_rate, jsonb_array_length(heart_rate_zones) "
            "FROM activities_heart_summary ORDER BY 1, 2"
        ).fetchall()
        zone_minutes = conn.execute(
            "SELECT user_id, sum((z ->> 'minutes')::numeric)::bigint FROM activities_heart_summary, "
            "jsonb_array_elements(heart_rate_zones) AS z GROUP BY 1 ORDER BY 1"
        ).fetchall()
    day = pl.read_parquet(table_glob(exported, "day"), hive_partitioning=True).sort("user_id", "date")
    assert day.select("user_id", "date", "sample_count", "sum_bpm", "min_bpm", "max_bpm").rows() == daily
    dst = day.filter((pl.col("user_id") == "zurich-one") & (pl.col("date") == DST_DAY))
    assert dst["day_minutes"].item() == 23 * 60
    summary = pl.read_parquet(table_glob(exported, "summary"), hive_partitioning=True).sort("user_id", "date")
    assert summary.select("user_id", "date", "resting_heart_rate", "zones").rows() == summaries
    zones = duck(
        "SELECT user_id, sum(minutes) FROM read_parquet(?, hive_partitioning = true) WHERE kind = 'standard' "
        "GROUP BY 1 ORDER BY 1",
        table_glob(exported, "zones"),
    )
    assert zones == zone_minutes
    people = pl.read_parquet(exported / "participants" / "part-0.parquet").sort("user_id")
    assert people.select("user_id", "timezone").rows() == sorted(ZONES.items())
    assert people["first_day"].min() == min(d for _, d in warehouse_days(export_db))


def test_manifest_lists_every_file_with_its_rows_and_sha256(exported: Path) -> None:
    manifest = json.loads((exported / "manifest.json").read_text())
    files = {str(p.relative_to(exported)) for p in exported.rglob("part-0.parquet")}
    assert set(manifest["files"]) == files
    for path, entry in manifest["files"].items():
        data = (exported / path).read_bytes()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
        assert entry["bytes"] == len(data)
        assert entry["rows"] == pq.ParquetFile(exported / path).metadata.num_rows
    assert manifest["export_schema_version"] >= 1 and manifest["warehouse_schema_version"] >= 7
    assert manifest["parameters"]["tables"] == list(ALL_TABLES)
    # 3 participants x 2 local months x 3 month tables, 4 per-participant tables each, the participants.
    assert len(files) == 3 * 2 * 3 + 3 * 4 + 1


def test_files_are_zstd_with_the_dictionary_types(exported: Path) -> None:
    dictionary = json.loads((exported / "dictionary.json").read_text())
    for path in exported.rglob("part-0.parquet"):
        table = path.relative_to(exported).parts[0]
        meta = pq.ParquetFile(path).metadata
        if meta.num_rows:
            assert meta.row_group(0).column(0).compression == "ZSTD"
        schema = pq.read_schema(path)
        assert [(f.name, str(f.type)) for f in schema] == [
            (c["name"], c["type"]) for c in dictionary["tables"][table]["columns"]
        ]
    markdown = (exported / "dictionary.md").read_text()
    for concept in ("Local day", "Worn minute", "Valid day", "Zones", "Resting heart rate", "Time zones"):
        assert f"## {concept}" in markdown
    assert set(dictionary["tables"]) == set(ALL_TABLES)
    assert "wear" not in dictionary["tables"]  # not asked for: the dictionary describes only the tables exported


def test_csv_export_reads_back_with_the_same_figures(export_db: str, tmp_path: Path) -> None:
    root = tmp_path / "csv"
    run_export(Warehouse(export_db), ExportRequest(str(root), tables=("readings", "day"), format="csv"))
    rows = duck(
        "SELECT user_id, local_date, count(*), sum(bpm) FROM read_csv(?, hive_partitioning = true, "
        "hive_types = {'user_id': VARCHAR}) GROUP BY ALL",
        table_glob(root, "readings", "csv"),
    )
    expected = {key: f[:2] for key, f in warehouse_days(export_db).items()}
    assert {(r[0], r[1]): (r[2], r[3]) for r in rows} == expected
    header = next((root / "readings").rglob("*.csv")).read_text().splitlines()[0]
    assert header == '"time","local_date","utc_offset_minutes","bpm","confidence"'


def test_selection_by_user_and_dates_and_an_unknown_table(export_db: str, tmp_path: Path) -> None:
    root = tmp_path / "one"
    day = DST_DAY
    run_export(Warehouse(export_db), ExportRequest(str(root), user_ids=("zurich-one",), start_date=day, end_date=day))
    rows = duck(
        "SELECT DISTINCT user_id, local_date FROM read_parquet(?, hive_partitioning = true)",
        table_glob(root, "readings"),
    )
    assert rows == [("zurich-one", day)]
    assert [p.name for p in (root / "day").iterdir()] == ["user_id=zurich-one"]
    result = CliRunner().invoke(_cli(), ["export", str(tmp_path / "x"), "--tables", "readings,nope"])
    assert result.exit_code != 0 and "unknown table(s) nope" in result.output


def test_unknown_participant_is_reported_and_the_others_exported(export_db: str, tmp_path: Path) -> None:
    root = tmp_path / "some"
    summary = run_export(Warehouse(export_db), ExportRequest(str(root), user_ids=("zurich-one", "nobody")))
    assert [(f.participant, f.error) for f in summary.failures] == [("nobody", "no such participant")]
    assert (root / "readings" / "user_id=zurich-one").is_dir()


def test_cli_exports_and_summarises(export_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from hr_assets.settings import get_settings

    monkeypatch.setenv("HR_DATABASE_URL", export_db)
    monkeypatch.setenv("HR_HOME", str(tmp_path / "home"))
    get_settings.cache_clear()
    root = tmp_path / "cli"
    result = CliRunner().invoke(_cli(), ["export", str(root), "--tables", "day,participants"])
    get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "3 participant(s): 4 file(s) written" in result.output
    assert "[1/4] kathmandu-two: 1 written, 0 unchanged" in result.output
    assert sorted(p.name for p in root.iterdir()) == [
        "day",
        "dictionary.json",
        "dictionary.md",
        "manifest.json",
        "participants",
    ]
    assert set(TABLES) >= {"day", "participants"}


def _cli():  # type: ignore[no-untyped-def]
    from hr_assets.cli import main

    return main


def test_a_failed_participant_is_named_and_the_others_are_written(export_db: str, tmp_path: Path) -> None:
    root = tmp_path / "study"
    run_export(Warehouse(export_db), ExportRequest(str(root)))
    before = (root / "readings" / "user_id=kathmandu-two" / "month=2024-03" / "part-0.parquet").read_bytes()
    with psycopg.connect(export_db) as conn:  # a zone the tz database lacks: its local days cannot be placed
        conn.execute("UPDATE users SET timezone = 'Mars/Olympus_Mons' WHERE id = 'kathmandu-two'")
    summary = run_export(Warehouse(export_db), ExportRequest(str(root)))
    [failure] = summary.failures
    assert failure.participant == "kathmandu-two" and failure.file.startswith("readings/user_id=kathmandu-two/")
    assert "Mars/Olympus_Mons" in failure.error
    assert str(failure).startswith("participant kathmandu-two, file readings/user_id=kathmandu-two/")
    # The others were written again (their settings are part of no fingerprint that changed: unchanged),
    # the participants file was rewritten, and the failed participant keeps the previous export's files.
    assert [f.path for f in summary.written] == ["participants/part-0.parquet"]
    assert (root / "readings" / "user_id=kathmandu-two" / "month=2024-03" / "part-0.parquet").read_bytes() == before
    manifest = json.loads((root / "manifest.json").read_text())
    assert "day/user_id=kathmandu-two/part-0.parquet" in manifest["files"]


def test_cohorts_and_wear_records_are_exported_where_the_schema_has_them(export_db: str, tmp_path: Path) -> None:
    with psycopg.connect(export_db) as conn:  # cohorts (migration 0008); wear_days is the load records' view
        conn.execute("UPDATE users SET cohort = CASE WHEN id = 'zurich-one' THEN 'pilot' ELSE 'main' END")
    root = tmp_path / "pilot"
    summary = run_export(
        Warehouse(export_db), ExportRequest(str(root), cohort="pilot", tables=("wear", "participants"))
    )
    assert not summary.failures
    people = pl.read_parquet(root / "participants" / "part-0.parquet")
    assert people.select("user_id", "cohort").rows() == [("zurich-one", "pilot")]
    wear = pl.read_parquet(table_glob(root, "wear"), hive_partitioning=True)
    assert {"date", "worn_minutes", "day_minutes", "first_reading", "last_reading", "user_id"} <= set(wear.columns)
    day_minutes = {d: f[6] // 60 for (u, d), f in warehouse_days(export_db).items() if u == "zurich-one"}
    assert dict(wear.select("date", "worn_minutes").iter_rows()) == day_minutes
    assert "wear" in json.loads((root / "dictionary.json").read_text())["tables"]


def test_a_cohort_asked_of_a_warehouse_without_cohorts_is_an_error(export_db: str, tmp_path: Path) -> None:
    from hr_assets.warehouse.export import ExportReadError

    with psycopg.connect(export_db) as conn:  # a warehouse from before cohorts (migration 0008)
        conn.execute("ALTER TABLE users DROP COLUMN cohort CASCADE")
    with pytest.raises(ExportReadError, match="records no cohorts"):
        run_export(Warehouse(export_db), ExportRequest(str(tmp_path / "x"), cohort="pilot"))
