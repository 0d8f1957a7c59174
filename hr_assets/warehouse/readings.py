"""Reading the heart rate back: points at each resolution, cheap point-count estimates, extents.

The query API's questions, answered over a connection. Relations come from :data:`LEVELS`, a
fixed mapping; every value is a bound parameter. Points leave the server as JSON text in the
API's point shape (``timestamp``, ``value``, ``user_id``, ``min``, ``max``, ``count``), so a
response is assembled without decoding each point in Python.
"""

from __future__ import annotations

import functools
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

import psycopg
from psycopg import sql

from hr_assets.warehouse.aggregates import LEVELS as AGGREGATE_LEVELS
from hr_assets.warehouse.aggregates import RAW
from hr_assets.warehouse.db import query
from hr_assets.warehouse.status import coverage

DAILY_VIEW = "activities_heart_daily"


@functools.cache
def _query(name: str) -> sql.SQL:
    """``sql/queries/<name>.sql``, read once per process (the files ship with the code)."""
    return query(name)


@functools.cache
def _level_query(name: str, relation: str) -> sql.Composed:
    """``sql/queries/<name>.sql`` over one level's relation (from :data:`LEVELS`), composed once per process."""
    return _query(name).format(relation=sql.Identifier(relation))


# A statement of sql/queries and its parameters, to run alone or in a pipeline.
Statement = tuple[sql.SQL | sql.Composed, dict[str, object]]


def _send(conn: psycopg.Connection, statement: Statement) -> psycopg.Cursor[Any]:
    return conn.execute(statement[0], statement[1])


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
    return _extents(conn.execute(_query("readings_user_extents"), {"user_ids": user_ids}).fetchall())


def _extents(rows: list[tuple[Any, ...]]) -> dict[str, UserExtent]:
    return {row[0]: UserExtent(*row) for row in rows}


def reading_days(conn: psycopg.Connection, user_id: str) -> int:
    """How many local days of ``user_id`` have readings."""
    row = conn.execute(_query("user_reading_days"), {"user_id": user_id}).fetchone()
    return int(row[0]) if row else 0


def points(
    conn: psycopg.Connection, resolution: Resolution, user_ids: list[str], start: datetime, end: datetime
) -> dict[str, UserPoints]:
    """The points of ``user_ids`` at ``resolution`` in [start, end), by user (users without points absent).

    Raw readings inside the window; aggregate buckets and local days that overlap it.
    """
    return _user_points(_send(conn, _points_statement(resolution, user_ids, start, end)).fetchall())


def _points_statement(resolution: Resolution, user_ids: list[str], start: datetime, end: datetime) -> Statement:
    level = LEVELS[resolution]
    params: dict[str, object] = {"user_ids": user_ids, "start": start, "end": end}
    statement: sql.SQL | sql.Composed
    if resolution is Resolution.RAW:
        statement = _query("readings_raw_points")
    elif resolution is Resolution.DAY:
        statement = _query("readings_daily_points")
    else:
        statement = _level_query("readings_bucket_points", level.relation)
        params["width"] = level.width
    return statement, params


def _user_points(rows: list[tuple[Any, ...]]) -> dict[str, UserPoints]:
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
    return _scalar(_send(conn, _aggregate_statement(name, resolution, user_ids, start, end)).fetchone())


def _aggregate_statement(
    name: str, resolution: Resolution, user_ids: list[str], start: datetime, end: datetime
) -> Statement:
    if resolution not in (Resolution.MINUTE, Resolution.HOUR):
        raise ValueError(f"{resolution} is not a bucketed aggregate")
    level = LEVELS[resolution]
    return _level_query(name, level.relation), {"user_ids": user_ids, "start": start, "end": end, "width": level.width}


def _scalar(row: tuple[Any, ...] | None) -> int:
    return int(row[0]) if row else 0


class Measure(StrEnum):
    """The point-count estimates of an aggregate level, by the query that reads them."""

    SAMPLE_SUM = "readings_sample_sum"
    BUCKET_COUNT = "readings_bucket_count"


@dataclass(frozen=True)
class Count:
    """One estimate a resolution plan may ask for: a measure of an aggregate level."""

    measure: Measure
    resolution: Resolution


@dataclass(frozen=True)
class SeriesRead:
    """What one round trip brought back for a time-series request."""

    extents: dict[str, UserExtent]
    counts: dict[Count, int]
    points: dict[str, UserPoints] | None  # at the resolution asked for; None when none was


def read_series(
    conn: psycopg.Connection,
    user_ids: list[str],
    start: datetime,
    end: datetime,
    counts: Collection[Count],
    resolution: Resolution | None,
) -> SeriesRead:
    """The users' extents, ``counts`` over [start, end) and (with ``resolution``) its points, in one round trip.

    The statements are sent together in a pipeline and answered together: the server runs each
    as it runs it alone (same plans, own snapshot), and the connection waits for the network once.
    """
    with conn.pipeline():
        extents = conn.execute(_query("readings_user_extents"), {"user_ids": user_ids})
        measured = [
            (count, _send(conn, _aggregate_statement(count.measure.value, count.resolution, user_ids, start, end)))
            for count in counts
        ]
        found = _send(conn, _points_statement(resolution, user_ids, start, end)) if resolution else None
    return SeriesRead(
        _extents(extents.fetchall()),
        {count: _scalar(cursor.fetchone()) for count, cursor in measured},
        _user_points(found.fetchall()) if found else None,
    )


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
    return _summary_days(_send(conn, _summary_statement(user_id, start_date, end_date)).fetchall())


def read_summary(
    conn: psycopg.Connection, user_id: str, start_date: date, end_date: date
) -> tuple[UserExtent | None, list[SummaryDay]]:
    """``user_id``'s extent (None when not registered) and :func:`summary_days`, in one round trip."""
    with conn.pipeline():
        extents = conn.execute(_query("readings_user_extents"), {"user_ids": [user_id]})
        days = _send(conn, _summary_statement(user_id, start_date, end_date))
    return _extents(extents.fetchall()).get(user_id), _summary_days(days.fetchall())


def _summary_statement(user_id: str, start_date: date, end_date: date) -> Statement:
    return _query("summary_days"), {"user_id": user_id, "start_date": start_date, "end_date": end_date}


def _summary_days(rows: list[tuple[Any, ...]]) -> list[SummaryDay]:
    return [SummaryDay(*row) for row in rows]
