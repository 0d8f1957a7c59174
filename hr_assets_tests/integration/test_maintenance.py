"""Retention of raw readings and storage figures (PostgreSQL mode; TimescaleDB in test_timescale.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import dagster as dg
import psycopg
import pytest
from psycopg import sql

from hr_assets.defs.maintenance.assets import warehouse_maintenance
from hr_assets.domain.transform import local_day_window, parse_intraday
from hr_assets.local.alerts import AlertResource
from hr_assets.resources import WarehouseResource
from hr_assets.settings import get_settings
from hr_assets.sources import SOURCES
from hr_assets.warehouse.aggregates import LEVELS, refresh
from hr_assets.warehouse.db import Warehouse
from hr_assets.warehouse.loads import load_intraday
from hr_assets.warehouse.maintenance import MIN_RETENTION_DAYS, RetentionError, apply_retention, retention_horizon
from hr_assets_tests.payloads import every, intraday

TODAY = datetime.now(UTC).date()
OLD_DAY = TODAY - timedelta(days=40)
RECENT_DAY = TODAY - timedelta(days=3)


def _load_days(conn: psycopg.Connection, url: str) -> list[tuple[str, datetime, datetime]]:
    conn.execute(
        "INSERT INTO users (id, display_name, timezone, start_date) VALUES ('u1', 'u1', 'UTC', %s)", (OLD_DAY,)
    )
    windows = []
    for day in (OLD_DAY, RECENT_DAY):
        parsed = parse_intraday(intraday(every(60)), user_id="u1", day=day, timezone="UTC")
        with psycopg.connect(url) as writer:
            load_intraday(writer, parsed, user_id="u1", day=day, source="test")
        windows.append(("u1", *local_day_window(day, "UTC")))
    for name in ("1m", "1h", "1d"):
        refresh(Warehouse(url), LEVELS[name], windows)
    return windows


def _days(conn: psycopg.Connection, relation: str, column: str) -> list[date]:
    statement = sql.SQL("SELECT DISTINCT ({} AT TIME ZONE 'UTC')::date FROM {} ORDER BY 1").format(
        sql.Identifier(column), sql.Identifier(relation)
    )
    rows = conn.execute(statement).fetchall()
    return [r[0] for r in rows]


def test_retention_drops_old_raw_readings_and_keeps_aggregates(conn: psycopg.Connection, db_url: str) -> None:
    windows = _load_days(conn, db_url)
    dropped = apply_retention(Warehouse(db_url), 30)
    assert dropped == 1440  # the old day's readings, one a minute
    assert _days(conn, "activities_heart_intraday", "time") == [RECENT_DAY]
    assert _days(conn, "activities_heart_intraday_1d", "bucket") == [OLD_DAY, RECENT_DAY]
    # A refresh that reaches before the horizon leaves the old buckets alone...
    horizon = retention_horizon(30)
    for name in ("1m", "1h", "1d"):
        refresh(Warehouse(db_url), LEVELS[name], windows, not_before=horizon)
    assert _days(conn, "activities_heart_intraday_1m", "bucket") == [OLD_DAY, RECENT_DAY]
    # ...which is what it protects against: without the horizon they would be emptied.
    refresh(Warehouse(db_url), LEVELS["1m"], windows)
    assert _days(conn, "activities_heart_intraday_1m", "bucket") == [RECENT_DAY]


def test_retention_shorter_than_the_refetch_window_is_refused(db_url: str) -> None:
    with pytest.raises(RetentionError, match=f"at least {MIN_RETENTION_DAYS} days"):
        apply_retention(Warehouse(db_url), MIN_RETENTION_DAYS - 1)


def test_maintenance_asset_reports_storage_and_applies_retention(
    conn: psycopg.Connection, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _load_days(conn, db_url)
    monkeypatch.setenv("HR_RETENTION_DAYS", "30")
    get_settings.cache_clear()
    try:
        result = dg.materialize(
            [warehouse_maintenance],
            resources={
                "warehouse": WarehouseResource(database_url=db_url),
                "alerts": AlertResource(),
                "sources": SOURCES,
            },
        )
    finally:
        get_settings.cache_clear()
    [materialization] = result.asset_materializations_for_node("warehouse_maintenance")
    metadata = {key: value.value for key, value in materialization.metadata.items()}
    assert metadata["mode"] == "postgres" and metadata["retention_dropped"] == 1440
    size = conn.execute("SELECT pg_total_relation_size('activities_heart_intraday')").fetchone()
    assert size is not None and metadata["raw_total_bytes"] == size[0] > 0
    table = str(metadata["storage"])
    for relation in ("activities_heart_intraday_1m", "activities_heart_intraday_1h", "activities_heart_intraday_1d"):
        assert f"| {relation} |" in table
