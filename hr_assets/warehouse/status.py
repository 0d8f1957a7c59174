"""Read-only questions about what has been loaded (for checks, freshness and the API)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

import psycopg

from hr_assets.warehouse.db import query
from hr_assets.warehouse.user_day import UserDay


@dataclass(frozen=True)
class DayStats:
    """What the intraday readings of one local day say, for checking its summary."""

    minutes_with_readings: int
    min_bpm: int | None
    max_bpm: int | None


@dataclass(frozen=True)
class PartitionLoad:
    user_id: str
    date: date
    rows_loaded: int
    covered_seconds: int | None
    day_seconds: int | None
    min_bpm: int | None
    max_bpm: int | None
    loaded_at: datetime

    @property
    def coverage(self) -> float | None:
        return coverage(self.covered_seconds, self.day_seconds)


def coverage(covered_seconds: int | None, day_seconds: int | None) -> float | None:
    """The share of a day with readings, from its load record; None when the record has no figures."""
    if covered_seconds is None or not day_seconds:
        return None
    return covered_seconds / day_seconds


def partition_loads(
    conn: psycopg.Connection, payload: str, partitions: Sequence[UserDay]
) -> dict[UserDay, PartitionLoad]:
    """The load record of each of ``partitions`` that has one."""
    rows = conn.execute(
        query("partition_loads_for_days"),
        {"payload": payload, "user_ids": [p.user_id for p in partitions], "dates": [p.day for p in partitions]},
    ).fetchall()
    return {UserDay(r[0], r[1]): PartitionLoad(*r) for r in rows}


def loaded_days(conn: psycopg.Connection, user_ids: list[str], first: date, last: date) -> dict[str, set[date]]:
    """The days in [first, last] of each of ``user_ids`` whose intraday and summary payloads are both loaded."""
    rows = conn.execute(
        query("partition_loads_loaded_days"), {"user_ids": user_ids, "first": first, "last": last}
    ).fetchall()
    days: dict[str, set[date]] = {user_id: set() for user_id in user_ids}
    for user_id, day in rows:
        days[user_id].add(day)
    return days


def intraday_day_stats(conn: psycopg.Connection, partitions: Sequence[UserDay]) -> dict[UserDay, DayStats]:
    """What each partition's intraday load wrote (minutes with readings, bpm range), if it wrote any.

    Recorded by the load in the same transaction as the readings, so it is read from one row
    per partition rather than by scanning the day again.
    """
    return {
        key: DayStats((load.covered_seconds or 0) // 60, load.min_bpm, load.max_bpm)
        for key, load in partition_loads(conn, "intraday", partitions).items()
        if load.rows_loaded
    }
