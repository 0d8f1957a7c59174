"""The 1-minute, 1-hour and 1-day aggregates, refreshed for the window that changed.

TimescaleDB mode: hierarchical continuous aggregates, refreshed with
``refresh_continuous_aggregate`` on an autocommit connection (it cannot run in a transaction).
PostgreSQL mode: ordinary tables; one user's buckets in the window are recomputed from the
layer below in one transaction. Both give the same rows.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg import sql

from hr_assets.warehouse.db import Mode, Warehouse, query


@dataclass(frozen=True)
class AggregateLevel:
    name: str  # "1m", "1h", "1d"
    relation: str
    width: timedelta
    source: str  # the layer it is computed from
    # TimescaleDB mode: the span one transaction of a refresh materialises.
    batch: timedelta

    @property
    def buckets_per_batch(self) -> int:
        return self.batch // self.width


RAW = "activities_heart_intraday"
LEVELS: dict[str, AggregateLevel] = {
    level.name: level
    for level in (
        AggregateLevel("1m", "activities_heart_intraday_1m", timedelta(minutes=1), RAW, timedelta(days=1)),
        AggregateLevel(
            "1h", "activities_heart_intraday_1h", timedelta(hours=1), "activities_heart_intraday_1m", timedelta(days=7)
        ),
        AggregateLevel(
            "1d", "activities_heart_intraday_1d", timedelta(days=1), "activities_heart_intraday_1h", timedelta(days=31)
        ),
    )
}
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)  # bucket origin: UTC-aligned, as time_bucket's
# PostgreSQL mode: rollups computed side by side, one connection each (measured on 2 cores:
# the 1-minute step of a 30-day, two-user CLI backfill went from 1.6 s to 1.2 s).
ROLLUP_WORKERS = 2
# A user and that user's merged windows.
UserWindows = tuple[str, list[tuple[datetime, datetime]]]


def align(start: datetime, end: datetime, width: timedelta) -> tuple[datetime, datetime]:
    """The smallest window of whole buckets of ``width`` that covers [start, end)."""
    first = _EPOCH + ((start - _EPOCH) // width) * width
    last = _EPOCH + -((_EPOCH - end) // width) * width
    return first, last


@dataclass(frozen=True)
class RefreshResult:
    level: str
    user_id: str
    window_start: datetime
    window_end: datetime
    buckets: int  # buckets of the refreshed users in the window after the refresh


def merge_windows(windows: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """Overlapping or touching windows merged, so a backfill refreshes each bucket once."""
    merged: list[tuple[datetime, datetime]] = []
    for start, end in sorted(windows):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def continuous_aggregate_refresh(conn: psycopg.Connection) -> sql.SQL:
    """The refresh statement for this TimescaleDB: with the batch size where it takes one.

    A day of the 1-minute level per transaction, not TimescaleDB's default of 10 buckets:
    measured on a sparse year of one user, a month took 25 s in 10-minute batches, 0.25 s in days.
    """
    row = conn.execute(query("continuous_aggregate_refresh_takes_options")).fetchone()
    return query("continuous_aggregate_refresh_batched" if row and row[0] else "continuous_aggregate_refresh")


def refresh(
    warehouse: Warehouse,
    level: AggregateLevel,
    windows: list[tuple[str, datetime, datetime]],
    not_before: datetime | None = None,
) -> list[RefreshResult]:
    """Refresh ``level`` for each (user, start, end) window of changed raw data.

    ``not_before`` is the retention horizon: buckets before it keep what they have, because
    their raw readings are gone and recomputing them would empty them.
    Returns one result per user and merged window, in user order.
    """
    by_user: dict[str, list[tuple[datetime, datetime]]] = {}
    floor = align(not_before, not_before, level.width)[1] if not_before else None
    for user_id, start, end in windows:
        first, last = align(start, end, level.width)
        if floor is not None:
            first = max(first, floor)
        if first < last:
            by_user.setdefault(user_id, []).append((first, last))
    work = [(user_id, merge_windows(user_windows)) for user_id, user_windows in sorted(by_user.items())]
    if warehouse.mode is Mode.TIMESCALEDB:
        with warehouse.connection(autocommit=True) as conn:
            statement = continuous_aggregate_refresh(conn)
            conn.execute(query("continuous_aggregate_refresh_lock"), {"view": level.relation})
            # A continuous aggregate refreshes every user at once: one call per merged window.
            for first, last in merge_windows([w for ws in by_user.values() for w in ws]):
                params = {
                    "view": level.relation,
                    "start": first,
                    "end": last,
                    "buckets_per_batch": level.buckets_per_batch,
                }
                conn.execute(statement, params)
            return _count_buckets(conn, level, work)
    # PostgreSQL mode: users' rollups are independent, so a few run side by side, each worker
    # with one connection for its share of the users (the server hashes one user per core).
    shares = [work[i::ROLLUP_WORKERS] for i in range(min(ROLLUP_WORKERS, len(work)))]
    stop = threading.Event()
    with ThreadPoolExecutor(max_workers=max(len(shares), 1), thread_name_prefix="hr-rollup") as pool:
        futures = [pool.submit(_roll_up, warehouse, level, share, stop) for share in shares]
        try:
            done = [future.result() for future in futures]
        except BaseException:
            # A failure or an interrupt: the other workers end after their current window
            # instead of finishing their share while the error waits to be reported.
            stop.set()
            raise
    results = {(r.user_id, r.window_start): r for share in done for r in share}
    return [results[user_id, first] for user_id, user_windows in work for first, _ in user_windows]


def _roll_up(
    warehouse: Warehouse, level: AggregateLevel, work: list[UserWindows], stop: threading.Event
) -> list[RefreshResult]:
    """PostgreSQL mode: recompute each user's buckets in each window from the layer below, a transaction each.

    Returns early, with nothing, once ``stop`` is set.
    """
    target = sql.Identifier(level.relation)
    template = query("rollup_from_raw" if level.source == RAW else "rollup_from_rollup")
    with warehouse.connection() as conn:
        for user_id, user_windows in work:
            for first, last in user_windows:
                if stop.is_set():
                    return []
                params = {"user_id": user_id, "start": first, "end": last, "width": level.width}
                with conn.transaction():
                    conn.execute(query("rollup_lock"), {"relation": level.relation, "user_id": user_id})
                    conn.execute(query("rollup_delete_window").format(target=target), params)
                    conn.execute(template.format(target=target, source=sql.Identifier(level.source)), params)
        return _count_buckets(conn, level, work)


def _count_buckets(conn: psycopg.Connection, level: AggregateLevel, work: list[UserWindows]) -> list[RefreshResult]:
    target = sql.Identifier(level.relation)
    results = []
    for user_id, user_windows in work:
        for first, last in user_windows:
            params = {"user_id": user_id, "start": first, "end": last}
            row = conn.execute(query("rollup_count_window").format(target=target), params).fetchone()
            results.append(RefreshResult(level.name, user_id, first, last, int(row[0]) if row else 0))
    return results
