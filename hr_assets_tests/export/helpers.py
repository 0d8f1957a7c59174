"""Shared by the export's tests: a warehouse loaded with participants in awkward time zones, and readers."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import psycopg

from hr_assets.domain.ingest import changed_windows, ingest
from hr_assets.domain.user_day import UserDay
from hr_assets.sources import SOURCES
from hr_assets.warehouse.aggregates import LEVELS, refresh
from hr_assets.warehouse.db import Warehouse
from hr_assets.warehouse.users import NewUser, users_by_id

# Europe/Berlin springs forward on 2024-03-31 (a 23-hour local day); Asia/Kathmandu is +5:45 all year;
# America/New_York's DST starts on 2024-03-10, so its days here are ordinary.
ZONES = {"zurich-one": "Europe/Berlin", "kathmandu-two": "Asia/Kathmandu", "newyork-three": "America/New_York"}
DAYS = [date(2024, 3, 30), date(2024, 3, 31), date(2024, 4, 1)]
DST_DAY = date(2024, 3, 31)


def new_users() -> list[NewUser]:
    return [NewUser(uid, tz, DAYS[0], seed=n + 7) for n, (uid, tz) in enumerate(ZONES.items())]


def reload_day(url: str, user_id: str, day: date) -> None:
    """Load one participant-day's intraday payload again as the pipeline does (aggregates refreshed)."""
    warehouse = Warehouse(url)
    with warehouse.connection() as conn:
        registered = users_by_id(conn, [user_id])
    partitions = [UserDay(user_id, day)]
    report = ingest(warehouse, SOURCES, registered, partitions, "intraday")
    assert not report.failures, report.failures
    for level in ("1m", "1h", "1d"):
        refresh(warehouse, LEVELS[level], changed_windows(registered, partitions))


def warehouse_days(url: str) -> dict[tuple[str, date], tuple[Any, ...]]:
    """Each participant-day's intraday load record: (count, sum, min, max, first, last, covered, day seconds)."""
    with psycopg.connect(url, options="-c timezone=UTC") as conn:
        rows = conn.execute(
            "SELECT user_id, date, rows_loaded, sum_bpm, min_bpm, max_bpm, first_reading, last_reading, "
            "covered_seconds, day_seconds FROM partition_loads WHERE payload = 'intraday' AND rows_loaded > 0"
        ).fetchall()
    return {(r[0], r[1]): tuple(r[2:]) for r in rows}


def duck(sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """``sql`` run by a fresh in-memory DuckDB with UTC as its time zone."""
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        return con.execute(sql, list(params)).fetchall()


def table_glob(root: Path, table: str, fmt: str = "parquet") -> str:
    return str(root / table / "**" / f"*.{fmt}")
