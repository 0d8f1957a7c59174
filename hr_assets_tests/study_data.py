"""Wear records written straight into the load records, for tests of what the study view reads."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import psycopg
from psycopg import sql

from hr_assets.transform import local_day_window

WEAR_RECORD = """
INSERT INTO partition_loads (user_id, date, payload, rows_loaded, rows_quarantined, covered_seconds, day_seconds,
                             first_reading, last_reading)
VALUES (%(user_id)s, %(date)s, 'intraday', %(rows)s, 0, %(covered)s, %(day_seconds)s, %(first)s, %(last)s)
ON CONFLICT (user_id, date, payload) DO UPDATE
SET rows_loaded = EXCLUDED.rows_loaded, covered_seconds = EXCLUDED.covered_seconds,
    first_reading = EXCLUDED.first_reading, last_reading = EXCLUDED.last_reading
"""


def register(conn: psycopg.Connection, user_id: str, *, start: date, timezone: str = "UTC", **columns: object) -> None:
    """A participant in the registry (source, cohort, retired_at, source_config as given)."""
    values = {"id": user_id, "display_name": user_id, "timezone": timezone, "start_date": start, **columns}
    statement = sql.SQL("INSERT INTO users ({}) VALUES ({})").format(
        sql.SQL(", ").join(map(sql.Identifier, values)), sql.SQL(", ").join(map(sql.Placeholder, values))
    )
    conn.execute(statement, values)


def wear(conn: psycopg.Connection, user_id: str, day: date, worn_minutes: int, timezone: str = "UTC") -> None:
    """A load record of ``day`` whose readings cover ``worn_minutes`` minutes from the local midnight on."""
    start, end = local_day_window(day, timezone)
    first: datetime | None = start if worn_minutes else None
    last = start + timedelta(minutes=worn_minutes - 1) if worn_minutes else None
    conn.execute(
        WEAR_RECORD,
        {
            "user_id": user_id,
            "date": day,
            "rows": worn_minutes,
            "covered": worn_minutes * 60,
            "day_seconds": int((end - start).total_seconds()),
            "first": first,
            "last": last,
        },
    )
