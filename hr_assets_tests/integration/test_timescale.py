"""TimescaleDB mode against a real TimescaleDB server.

Skipped unless ``HR_TEST_TIMESCALE_URL`` names a server (any database on it) where the test
user may create and drop databases and the ``timescaledb`` extension can be created. Every
test gets a database of its own, ``hr_ts_<random>``, dropped afterwards. The project code
runs unchanged: migrations, the COPY load path, the refresh of the continuous aggregates and
the maintenance SQL in ``sql/queries/timescale_*.sql``.

Each test opens one connection at a time (the loader and the refresh open their own), so the
module also runs against a server that accepts a single connection.
"""

from __future__ import annotations

import os
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from hr_assets.domain.transform import local_day_window, parse_intraday
from hr_assets.warehouse.aggregates import LEVELS, RAW, RefreshResult, continuous_aggregate_refresh, refresh
from hr_assets.warehouse.db import Mode, Warehouse, connect, query
from hr_assets.warehouse.loads import INTRADAY_COLUMNS, LoadResult, load_intraday
from hr_assets.warehouse.migrations import MIGRATIONS_DIR, discover, migrate
from hr_assets_tests.integration.test_aggregates import AGGREGATE, DAYS, REFERENCE, USERS, _random_day
from hr_assets_tests.payloads import intraday

SERVER_URL = os.environ.get("HR_TEST_TIMESCALE_URL", "")
pytestmark = pytest.mark.skipif(
    not SERVER_URL,
    reason="HR_TEST_TIMESCALE_URL is not set: TimescaleDB mode needs a TimescaleDB server to run against",
)

Window = tuple[str, datetime, datetime]
Row = tuple[Any, ...]
AGGREGATES = [LEVELS[name].relation for name in ("1m", "1h", "1d")]
UNITS = {"1m": "minute", "1h": "hour", "1d": "day"}
# The columns of every aggregate, in order, as in the PostgreSQL-mode tables (0003).
AGGREGATE_COLUMNS = [
    ("user_id", "text"),
    ("bucket", "timestamp with time zone"),
    ("min_bpm", "smallint"),
    ("max_bpm", "smallint"),
    ("avg_bpm", "double precision"),
    ("sum_bpm", "bigint"),
    ("sample_count", "bigint"),
]
SCHEMA_SNAPSHOT = [
    """SELECT table_name, column_name, data_type, is_nullable, column_default
       FROM information_schema.columns WHERE table_schema = 'public' ORDER BY table_name, ordinal_position""",
    "SELECT version, name, mode, checksum, applied_at FROM schema_migrations ORDER BY version",
    """SELECT hypertable_schema, hypertable_name, column_name, time_interval
       FROM timescaledb_information.dimensions ORDER BY 1, 2, 3""",
    """SELECT view_name, materialized_only, hypertable_name, materialization_hypertable_name
       FROM timescaledb_information.continuous_aggregates ORDER BY view_name""",
    """SELECT job_id, proc_name, hypertable_name, config FROM timescaledb_information.jobs
       WHERE hypertable_name IS NOT NULL ORDER BY job_id""",
]


# --- databases ---------------------------------------------------------------------------------


def _create_database(server_url: str) -> tuple[str, str]:
    """A new empty database on the server: its name and URL."""
    name = f"hr_ts_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return name, make_conninfo(server_url, dbname=name)


def _drop_database(server_url: str, name: str) -> None:
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def ts_url() -> Iterator[str]:
    """A fresh database on the TimescaleDB server, not migrated."""
    name, url = _create_database(SERVER_URL)
    try:
        yield url
    finally:
        _drop_database(SERVER_URL, name)


@pytest.fixture
def ts_db(ts_url: str) -> str:
    """A fresh database migrated in TimescaleDB mode, with its background jobs paused."""
    mode, _ = migrate(ts_url)
    assert mode is Mode.TIMESCALEDB
    with connect(ts_url, autocommit=True) as conn:
        # The columnstore policy would otherwise convert the (old) test days while a test loads.
        conn.execute(
            "SELECT alter_job(job_id, scheduled => false) FROM timescaledb_information.jobs"
            " WHERE hypertable_name = 'activities_heart_intraday'"
        )
    return ts_url


# --- helpers -----------------------------------------------------------------------------------


def _version(conn: psycopg.Connection) -> tuple[int, ...]:
    row = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'").fetchone()
    assert row is not None, "timescaledb extension missing"
    return tuple(int(part) for part in str(row[0]).split("-")[0].split("."))


def _load(url: str, seed: int, days: list[date] = DAYS) -> tuple[list[Window], list[LoadResult], list[Row]]:
    """Every user's ``days`` through the real loader; the windows, results and expected rows."""
    rng = random.Random(seed)
    with connect(url, autocommit=True) as conn:
        for user, zone in USERS.items():
            conn.execute(
                "INSERT INTO users (id, display_name, timezone, start_date)"
                " VALUES (%s, %s, %s, '2025-01-01') ON CONFLICT DO NOTHING",
                (user, user, zone),
            )
    windows: list[Window] = []
    results: list[LoadResult] = []
    expected: list[Row] = []
    for user, zone in USERS.items():
        for day in days:
            parsed = parse_intraday(intraday(_random_day(rng)), user_id=user, day=day, timezone=zone)
            with connect(url) as writer:
                results.append(load_intraday(writer, parsed, user_id=user, day=day, source="test"))
            windows.append((user, *local_day_window(day, zone)))
            expected.extend(parsed.readings.select(INTRADAY_COLUMNS).iter_rows())
    return windows, results, sorted(expected)


def _raw_rows(url: str) -> list[Row]:
    with connect(url, autocommit=True) as conn:
        return conn.execute(
            "SELECT user_id, time, bpm, confidence FROM activities_heart_intraday ORDER BY user_id, time"
        ).fetchall()


def _refresh_all(url: str, windows: list[Window]) -> dict[str, list[RefreshResult]]:
    return {name: refresh(Warehouse(url), LEVELS[name], windows) for name in ("1m", "1h", "1d")}


def _aggregate_rows(conn: psycopg.Connection, level: str) -> list[Row]:
    return conn.execute(AGGREGATE.format(LEVELS[level].relation)).fetchall()


def _assert_aggregates_match_raw(url: str) -> None:
    with connect(url, autocommit=True) as conn:
        for level, unit in UNITS.items():
            expected = conn.execute(REFERENCE, {"unit": unit}).fetchall()
            assert len(expected) > 0
            assert _aggregate_rows(conn, level) == expected, f"{level} differs from a GROUP BY over raw rows"


def _convert_all_chunks(url: str) -> int:
    """Convert every raw chunk to the columnstore (the old compress_chunk before 2.18)."""
    with connect(url, autocommit=True) as conn:
        chunks = [r[0] for r in conn.execute("SELECT show_chunks('activities_heart_intraday')::text")]
        statement = (
            "CALL convert_to_columnstore(%s::regclass)"
            if _version(conn) >= (2, 18)
            else "SELECT compress_chunk(%s::regclass, if_not_compressed => true)"
        )
        for chunk in chunks:
            conn.execute(statement, (chunk,))
        converted = conn.execute(
            "SELECT count(*) FILTER (WHERE is_compressed), count(*) FROM timescaledb_information.chunks"
            " WHERE hypertable_schema = current_schema() AND hypertable_name = 'activities_heart_intraday'"
        ).fetchone()
    assert chunks and converted == (len(chunks), len(chunks))
    return len(chunks)


def _columns(conn: psycopg.Connection, schema: str, relation: str) -> list[tuple[str, str]]:
    return [
        (r[0], r[1])
        for r in conn.execute(
            "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute"
            " WHERE attrelid = (quote_ident(%s) || '.' || quote_ident(%s))::regclass AND attnum > 0"
            " AND NOT attisdropped ORDER BY attnum",
            (schema, relation),
        )
    ]


def _columnstore_settings(conn: psycopg.Connection) -> tuple[str, str]:
    """(segmentby, orderby) of the raw hypertable, lower case and unquoted, from whichever view
    this version has: hypertable_columnstore_settings (2.18+), hypertable_compression_settings
    (2.14+) or compression_settings (every 2.x)."""
    for view in ("hypertable_columnstore_settings", "hypertable_compression_settings"):
        if conn.execute("SELECT to_regclass(%s)", (f"timescaledb_information.{view}",)).fetchone() != (None,):
            statement = sql.SQL(
                "SELECT segmentby, orderby FROM timescaledb_information.{}"
                " WHERE hypertable = 'activities_heart_intraday'::regclass"
            )
            row = conn.execute(statement.format(sql.Identifier(view))).fetchone()
            assert row is not None
            return str(row[0]).replace('"', "").lower(), str(row[1]).replace('"', "").lower()
    rows = conn.execute(
        "SELECT attname, segmentby_column_index, orderby_column_index, orderby_asc"
        " FROM timescaledb_information.compression_settings"
        " WHERE hypertable_name = 'activities_heart_intraday'"
    ).fetchall()
    segmentby = ",".join(r[0] for r in sorted((r for r in rows if r[1] is not None), key=lambda r: r[1]))
    orderby = ",".join(
        f"{r[0]} {'asc' if r[3] else 'desc'}" for r in sorted((r for r in rows if r[2] is not None), key=lambda r: r[2])
    )
    return segmentby, orderby


def _snapshot(url: str) -> list[list[Row]]:
    with connect(url, autocommit=True) as conn:
        return [conn.execute(statement).fetchall() for statement in SCHEMA_SNAPSHOT]


# --- migrations --------------------------------------------------------------------------------


@pytest.mark.timescale
def test_migrate_applies_every_timescaledb_version(ts_url: str) -> None:
    mode, applied = migrate(ts_url)
    migrations = discover(Mode.TIMESCALEDB)
    assert mode is Mode.TIMESCALEDB
    assert applied == [f"{m.version:04d}_{m.name}" for m in migrations]
    assert any(p.name.endswith(".timescale.sql") for m in migrations for p in m.files)
    with connect(ts_url, autocommit=True) as conn:
        recorded = conn.execute(
            "SELECT version, name, mode, checksum FROM schema_migrations ORDER BY version"
        ).fetchall()
        assert recorded == [(m.version, m.name, "timescaledb", m.checksum) for m in migrations]
        for relation in (
            "users",
            "activities_heart_intraday",
            "activities_heart_summary",
            "quarantine",
            "partition_loads",
            *AGGREGATES,
        ):
            found = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (relation,)).fetchone()
            assert found == (True,), relation


@pytest.mark.timescale
def test_migrating_twice_changes_nothing(ts_url: str) -> None:
    migrate(ts_url)
    before = _snapshot(ts_url)
    assert migrate(ts_url) == (Mode.TIMESCALEDB, [])
    assert _snapshot(ts_url) == before


@pytest.mark.timescale
def test_raw_readings_are_a_hypertable_with_one_day_chunks(ts_db: str) -> None:
    with connect(ts_db, autocommit=True) as conn:
        dimensions = conn.execute(
            "SELECT column_name, time_interval FROM timescaledb_information.dimensions"
            " WHERE hypertable_schema = current_schema() AND hypertable_name = 'activities_heart_intraday'"
        ).fetchall()
    assert dimensions == [("time", timedelta(days=1))]


@pytest.mark.timescale
def test_columnstore_segments_by_user_orders_by_time_and_converts_after_seven_days(ts_db: str) -> None:
    with connect(ts_db, autocommit=True) as conn:
        segmentby, orderby = _columnstore_settings(conn)
        policies = conn.execute(
            "SELECT (config->>'compress_after')::interval FROM timescaledb_information.jobs"
            " WHERE hypertable_schema = current_schema() AND hypertable_name = 'activities_heart_intraday'"
            " AND config ? 'compress_after'"
        ).fetchall()
    assert segmentby == "user_id"
    assert orderby in ("time desc", "time desc nulls first")
    assert policies == [(timedelta(days=7),)]


@pytest.mark.timescale
def test_three_hierarchical_continuous_aggregates_with_the_postgres_mode_columns(ts_db: str) -> None:
    with connect(ts_db) as conn:
        caggs = {
            r[0]: r[1:]
            for r in conn.execute(
                "SELECT view_name, materialized_only, hypertable_schema, hypertable_name,"
                " materialization_hypertable_schema, materialization_hypertable_name"
                " FROM timescaledb_information.continuous_aggregates WHERE view_schema = current_schema()"
            )
        }
        columns = {relation: _columns(conn, "public", relation) for relation in AGGREGATES}
        # The PostgreSQL-mode tables, created in a scratch schema and rolled back.
        conn.execute("CREATE SCHEMA hr_postgres_mode")
        conn.execute("SET LOCAL search_path TO hr_postgres_mode")
        conn.execute((MIGRATIONS_DIR / "0003_aggregates.postgres.sql").read_text())
        twins = {relation: _columns(conn, "hr_postgres_mode", relation) for relation in AGGREGATES}
        conn.rollback()
    assert set(caggs) == set(AGGREGATES)
    assert all(c[0] is True for c in caggs.values()), "real-time aggregation must be off (materialized_only)"
    one_minute, one_hour, one_day = (caggs[r] for r in AGGREGATES)
    assert one_minute[1:3] == ("public", RAW)
    assert one_hour[1:3] == one_minute[3:5], "1h must be computed from the 1m aggregate"
    assert one_day[1:3] == one_hour[3:5], "1d must be computed from the 1h aggregate"
    for relation in AGGREGATES:
        assert columns[relation] == AGGREGATE_COLUMNS == twins[relation], relation


# --- loads and refreshes -----------------------------------------------------------------------


@pytest.mark.timescale
def test_aggregates_equal_a_group_by_over_raw_rows(ts_db: str) -> None:
    windows, results, expected = _load(ts_db, seed=1)
    assert all(r.rows_inserted == r.rows_written for r in results)
    assert _raw_rows(ts_db) == expected
    refreshed = _refresh_all(ts_db, windows)
    assert all(r.buckets > 0 for level in refreshed.values() for r in level)
    _assert_aggregates_match_raw(ts_db)


@pytest.mark.timescale
def test_refreshes_name_their_batches_a_day_of_minutes_a_week_of_hours_a_month_of_days(ts_db: str) -> None:
    # TimescaleDB's own default (10 buckets a transaction) makes a year of minutes 52,560 batches.
    assert [LEVELS[name].buckets_per_batch for name in ("1m", "1h", "1d")] == [1440, 168, 31]
    with connect(ts_db, autocommit=True) as conn:
        assert continuous_aggregate_refresh(conn) == query("continuous_aggregate_refresh_batched")


@pytest.mark.timescale
def test_each_layer_is_refreshed_from_the_materialised_layer_below(ts_db: str) -> None:
    start = datetime(2025, 6, 1, tzinfo=UTC)
    end = start + timedelta(days=1)
    windows = [("solo", start, end)]
    with connect(ts_db, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO activities_heart_intraday (user_id, time, bpm, confidence)"
            " SELECT 'solo', t, (60 + extract(minute FROM t)::int %% 40)::smallint, NULL"
            " FROM generate_series(%(start)s::timestamptz,"
            " %(end)s::timestamptz - interval '1 second', interval '15 seconds') AS t",
            {"start": start, "end": end},
        )

    def buckets(level: str) -> int:
        return sum(r.buckets for r in refresh(Warehouse(ts_db), LEVELS[level], windows))

    assert buckets("1h") == 0  # the 1-minute layer is not materialised yet
    assert buckets("1m") == 1440
    assert buckets("1h") == 24
    assert buckets("1d") == 1
    _assert_aggregates_match_raw(ts_db)
    with connect(ts_db, autocommit=True) as conn:
        conn.execute(
            "UPDATE activities_heart_intraday SET bpm = bpm + 1 WHERE time < %s", (start + timedelta(hours=6),)
        )
        before = _aggregate_rows(conn, "1h")
    buckets("1h")  # without the 1-minute refresh the layer below has not changed
    with connect(ts_db, autocommit=True) as conn:
        assert _aggregate_rows(conn, "1h") == before
    _refresh_all(ts_db, windows)
    _assert_aggregates_match_raw(ts_db)


@pytest.mark.timescale
def test_reload_into_columnstore_chunks_upserts_and_aggregates_follow(ts_db: str) -> None:
    windows, _, _ = _load(ts_db, seed=1)
    _refresh_all(ts_db, windows)
    _convert_all_chunks(ts_db)
    # Re-loading identical data into converted chunks changes nothing.
    _, same, expected_same = _load(ts_db, seed=1)
    assert all((r.rows_inserted, r.rows_updated, r.rows_deleted) == (0, 0, 0) for r in same)
    assert all(r.rows_unchanged == r.rows_written for r in same)
    assert _raw_rows(ts_db) == expected_same
    # A corrected re-load (other readings at other times) through the staging table and the upsert.
    _, changed, expected = _load(ts_db, seed=2)
    assert sum(r.rows_inserted for r in changed) > 0
    assert sum(r.rows_updated for r in changed) > 0
    assert sum(r.rows_deleted for r in changed) > 0
    assert _raw_rows(ts_db) == expected  # exactly what a single load of the new data gives
    _refresh_all(ts_db, windows)
    _assert_aggregates_match_raw(ts_db)


# --- maintenance SQL ---------------------------------------------------------------------------


@pytest.mark.timescale
def test_retention_drops_old_raw_chunks_and_keeps_aggregates(ts_db: str) -> None:
    windows, _, _ = _load(ts_db, seed=4)
    _refresh_all(ts_db, windows)
    horizon = datetime(2025, 5, 1, tzinfo=UTC)  # after the March test days, before the June ones
    with connect(ts_db, autocommit=True) as conn:
        row = conn.execute("SELECT now() - %s::timestamptz", (horizon,)).fetchone()
        assert row is not None
        older_than = row[0]
        to_drop = conn.execute(
            "SELECT count(*) FROM timescaledb_information.chunks WHERE hypertable_schema = current_schema()"
            " AND hypertable_name = 'activities_heart_intraday' AND range_end <= %s",
            (horizon,),
        ).fetchone()
        kept_raw = conn.execute(
            "SELECT count(*) FROM activities_heart_intraday WHERE time >= %s", (horizon,)
        ).fetchone()
        aggregates = {level: _aggregate_rows(conn, level) for level in UNITS}
        assert to_drop is not None and to_drop[0] > 0
        assert conn.execute(query("timescale_retention"), {"older_than": older_than}).fetchone() == to_drop
        assert conn.execute(
            "SELECT count(*) FROM activities_heart_intraday WHERE time < %s", (horizon,)
        ).fetchone() == (0,)
        assert (
            conn.execute("SELECT count(*) FROM activities_heart_intraday WHERE time >= %s", (horizon,)).fetchone()
            == kept_raw
        )
        for level in UNITS:
            assert _aggregate_rows(conn, level) == aggregates[level], f"{level} lost buckets"
        assert conn.execute(query("timescale_retention"), {"older_than": older_than}).fetchone() == (0,)


@pytest.mark.timescale
def test_storage_reports_columnstore_savings(ts_db: str) -> None:
    windows, _, _ = _load(ts_db, seed=5, days=DAYS[:2])
    _refresh_all(ts_db, windows)
    chunks = _convert_all_chunks(ts_db)
    with connect(ts_db, autocommit=True) as conn:
        cursor = conn.execute(query("timescale_storage"))
        names = [column.name for column in cursor.description or []]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        materialized: dict[str, str] = dict(
            conn.execute(
                "SELECT view_name, materialization_hypertable_schema || '.' || materialization_hypertable_name"
                " FROM timescaledb_information.continuous_aggregates"
            ).fetchall()
        )
    assert [r["relation"] for r in rows] == [RAW, *AGGREGATES]
    raw = rows[0]
    assert raw["hypertable"] == RAW
    assert raw["chunks"] == raw["columnstore_chunks"] == chunks
    assert raw["total_bytes"] > 0
    assert raw["before_compression_bytes"] > raw["after_compression_bytes"] > 0
    ratio = Decimal(raw["before_compression_bytes"]) / Decimal(raw["after_compression_bytes"])
    assert raw["compression_ratio"] > 1 and abs(raw["compression_ratio"] - ratio) < Decimal("0.01")
    for row in rows[1:]:
        assert row["hypertable"] == materialized[row["relation"]]
        assert row["total_bytes"] > 0 and row["chunks"] > 0
        assert (
            row["columnstore_chunks"],
            row["before_compression_bytes"],
            row["after_compression_bytes"],
            row["compression_ratio"],
        ) == (0, 0, 0, None)
