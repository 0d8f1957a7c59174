"""Read-only questions about what has been loaded (for checks, freshness and the API)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import psycopg

from hr_assets.quality import DayStats
from hr_assets.warehouse.db import query


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
        if self.covered_seconds is None or not self.day_seconds:
            return None
        return self.covered_seconds / self.day_seconds


def partition_loads(
    conn: psycopg.Connection, payload: str, partitions: list[tuple[str, date]]
) -> dict[tuple[str, date], PartitionLoad]:
    """The load record of each of ``partitions`` that has one."""
    rows = conn.execute(
        query("partition_loads_for_days"),
        {"payload": payload, "user_ids": [u for u, _ in partitions], "dates": [d for _, d in partitions]},
    ).fetchall()
    return {(r[0], r[1]): PartitionLoad(*r) for r in rows}


def intraday_day_stats(
    conn: psycopg.Connection, partitions: list[tuple[str, date]]
) -> dict[tuple[str, date], DayStats]:
    """What each partition's intraday load wrote (minutes with readings, bpm range), if it wrote any.

    Recorded by the load in the same transaction as the readings, so it is read from one row
    per partition rather than by scanning the day again.
    """
    return {
        key: DayStats((load.covered_seconds or 0) // 60, load.min_bpm, load.max_bpm)
        for key, load in partition_loads(conn, "intraday", partitions).items()
        if load.rows_loaded
    }
