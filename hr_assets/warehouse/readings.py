"""Reading the heart rate back: points at each resolution, cheap point-count estimates, extents.

The query API's questions, answered over a connection. Relations come from :data:`LEVELS`, a
fixed mapping; every value is a bound parameter. Points leave the server as JSON text in the
API's point shape (``timestamp``, ``value``, ``user_id``, ``min``, ``max``, ``count``), so a
response is assembled without decoding each point in Python.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

import psycopg
from psycopg import sql

from hr_assets.warehouse.aggregates import LEVELS as AGGREGATE_LEVELS
from hr_assets.warehouse.aggregates import RAW
from hr_assets.warehouse.db import query
from hr_assets.warehouse.status import coverage

DAILY_VIEW = "activities_heart_daily"


class Resolution(StrEnum):
    """The levels a time series is served at, finest first."""

    RAW = "1s"
    MINUTE = "1m"
    HOUR = "1h"
    DAY = "1d"


@dataclass(frozen=True)
class Level:
    resolution: Resolution
    relation: str
    # Nominal width of a point: a raw reading is at most one a second (Fitbit's finest sampling);
    # a local day is 23 to 25 hours.
    width: timedelta
    label: str
    description: str


LEVELS: dict[Resolution, Level] = {
    level.resolution: level
    for level in (
        Level(Resolution.RAW, RAW, timedelta(seconds=1), "raw", "raw readings, one point per sample"),
        Level(
            Resolution.MINUTE,
            AGGREGATE_LEVELS["1m"].relation,
            timedelta(minutes=1),
            "1 minute",
            "1-minute buckets (UTC): average, min, max and sample count of the readings",
        ),
        Level(
            Resolution.HOUR,
            AGGREGATE_LEVELS["1h"].relation,
            timedelta(hours=1),
            "1 hour",
            "1-hour buckets (UTC): average, min, max and sample count of the readings",
        ),
        Level(
            Resolution.DAY,
            DAILY_VIEW,
            timedelta(days=1),
            "1 day",
            "the user's local calendar days (23, 24 or 25 hours in the user's time zone), from each day's load",
        ),
    )
}


@dataclass(frozen=True)
class UserExtent:
    """A registered user's time zone and the first and last reading on record (None without data)."""

    user_id: str
    timezone: str
    retired_at: datetime | None
    first_reading: datetime | None
    last_reading: datetime | None


@dataclass(frozen=True)
class UserPoints:
    user_id: str
    count: int
    json: str  # a JSON array of points, ascending by timestamp


def user_extents(conn: psycopg.Connection, user_ids: list[str] | None = None) -> dict[str, UserExtent]:
    """The registered users among ``user_ids`` (every user when None), by id."""
    rows = conn.execute(query("readings_user_extents"), {"user_ids": user_ids}).fetchall()
    return {row[0]: UserExtent(*row) for row in rows}


def reading_days(conn: psycopg.Connection, user_id: str) -> int:
    """How many local days of ``user_id`` have readings."""
    row = conn.execute(query("user_reading_days"), {"user_id": user_id}).fetchone()
    return int(row[0]) if row else 0


def points(
    conn: psycopg.Connection, resolution: Resolution, user_ids: list[str], start: datetime, end: datetime
) -> dict[str, UserPoints]:
    """The points of ``user_ids`` at ``resolution`` in [start, end), by user (users without points absent).

    Raw readings inside the window; aggregate buckets and local days that overlap it.
    """
    level = LEVELS[resolution]
    params: dict[str, object] = {"user_ids": user_ids, "start": start, "end": end}
    statement: sql.Composable
    if resolution is Resolution.RAW:
        statement = query("readings_raw_points")
    elif resolution is Resolution.DAY:
        statement = query("readings_daily_points")
    else:
        statement = query("readings_bucket_points").format(relation=sql.Identifier(level.relation))
        params["width"] = level.width
    rows = conn.execute(statement, params).fetchall()
    return {row[0]: UserPoints(row[0], int(row[1]), row[2]) for row in rows}


def sample_sum(
    conn: psycopg.Connection, resolution: Resolution, user_ids: list[str], start: datetime, end: datetime
) -> int:
    """Readings in the buckets of aggregate ``resolution`` that overlap the window: at least the raw count."""
    return _aggregate_scalar(conn, "readings_sample_sum", resolution, user_ids, start, end)


def bucket_count(
    conn: psycopg.Connection, resolution: Resolution, user_ids: list[str], start: datetime, end: datetime
) -> int:
    """Buckets of aggregate ``resolution`` that overlap the window: exactly the points it would return."""
    return _aggregate_scalar(conn, "readings_bucket_count", resolution, user_ids, start, end)


class PointCounts:
    """The counts a resolution plan asks for, of ``user_ids`` over one connection."""

    def __init__(self, conn: psycopg.Connection, user_ids: list[str]) -> None:
        self._conn = conn
        self._user_ids = user_ids

    def sample_sum(self, resolution: Resolution, start: datetime, end: datetime) -> int:
        return sample_sum(self._conn, resolution, self._user_ids, start, end)

    def bucket_count(self, resolution: Resolution, start: datetime, end: datetime) -> int:
        return bucket_count(self._conn, resolution, self._user_ids, start, end)


def _aggregate_scalar(
    conn: psycopg.Connection, name: str, resolution: Resolution, user_ids: list[str], start: datetime, end: datetime
) -> int:
    if resolution not in (Resolution.MINUTE, Resolution.HOUR):
        raise ValueError(f"{resolution} is not a bucketed aggregate")
    level = LEVELS[resolution]
    statement = query(name).format(relation=sql.Identifier(level.relation))
    row = conn.execute(statement, {"user_ids": user_ids, "start": start, "end": end, "width": level.width}).fetchone()
    return int(row[0]) if row else 0


@dataclass(frozen=True)
class SummaryDay:
    date: date
    resting_heart_rate: int | None
    heart_rate_zones: list[dict[str, object]] | None
    custom_heart_rate_zones: list[dict[str, object]] | None
    covered_seconds: int | None
    day_seconds: int | None
    rows_quarantined: int

    @property
    def coverage(self) -> float | None:
        share = coverage(self.covered_seconds, self.day_seconds)
        return None if share is None else round(share, 4)


def summary_days(conn: psycopg.Connection, user_id: str, start_date: date, end_date: date) -> list[SummaryDay]:
    """``user_id``'s local days in [start_date, end_date] with a summary or an intraday load, in order."""
    rows = conn.execute(
        query("summary_days"), {"user_id": user_id, "start_date": start_date, "end_date": end_date}
    ).fetchall()
    return [SummaryDay(*row) for row in rows]
