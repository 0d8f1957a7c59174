"""Read-only questions about what has been loaded (for checks, freshness and the API)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import psycopg

from hr_assets.quality import DayStats
from hr_assets.warehouse.db import query


def day_stats(conn: psycopg.Connection, user_id: str, start: datetime, end: datetime) -> DayStats | None:
    """Minutes with readings and the bpm range of one user's [start, end); None without readings."""
    row = conn.execute(query("intraday_day_stats"), {"user_id": user_id, "start": start, "end": end}).fetchone()
    if row is None or not row[0]:
        return None
    return DayStats(int(row[0]), row[1], row[2])


@dataclass(frozen=True)
class PartitionLoad:
    user_id: str
    date: date
    rows_loaded: int
    covered_seconds: int | None
    day_seconds: int | None
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
