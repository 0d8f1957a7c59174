"""Writing parsed partitions: bulk, idempotent, one transaction per partition.

A partition (user, local day) is written so that loading it again leaves the table exactly
as one load would: readings that the new data no longer has are deleted, changed values
replace old ones, unchanged rows are not touched. The first load of a partition copies
straight into the table (the COPY ceiling); a re-load copies into a staging table, updates
the rows whose values changed and inserts the new ones with one hash join each over the
partition's window, and deletes stale rows only when the counts say there are any. A failure
anywhere rolls the partition back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
import polars as pl
import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from hr_assets.warehouse.db import query
from hr_assets.warehouse.parsed import ParsedIntraday, ParsedSummary

INTRADAY_COLUMNS = ("user_id", "time", "bpm", "confidence")

# PostgreSQL's binary COPY format ("COPY", section "Binary Format", of the PostgreSQL manual):
# a signature, 32-bit flags and header-extension length, then per row a 16-bit field count and
# each field as a 32-bit length (-1 for NULL) and its bytes, all big-endian; a 16-bit -1 ends it.
# Binary needs no timestamp text on either side: measured ~40 % less server time than CSV.
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
_COPY_TRAILER = b"\xff\xff"
_NULL_LENGTH = -1
# timestamptz travels as microseconds since 2000-01-01 00:00 UTC (PostgreSQL's epoch).
_POSTGRES_EPOCH_US = 946_684_800_000_000
# Autovacuum analyzes a table once about 10 % of it changed, but only on its next round; the
# aggregate refresh that follows a large load would plan with statistics from before it
# (measured: a 30-day backfill's 1-minute rollup sorted on disk instead of hashing, 0.9 s
# instead of 0.5 s a user). Loads that grow the table by more than this share analyze it.
ANALYZE_GROWTH_SHARE = 0.1


@dataclass(frozen=True)
class LoadResult:
    rows_written: int  # readings in the new data
    rows_inserted: int  # of those, new to the table
    rows_updated: int  # of those, already present with other values (corrected data)
    rows_deleted: int  # present before, absent from the new data
    rows_quarantined: int

    @property
    def rows_unchanged(self) -> int:
        return self.rows_written - self.rows_inserted - self.rows_updated


def copy_rows(conn: psycopg.Connection, table: str, data: bytes) -> None:
    """COPY readings encoded by :func:`copy_data` into ``table`` (a trusted name from this package)."""
    statement = sql.SQL("COPY {} (user_id, time, bpm, confidence) FROM STDIN (FORMAT binary)").format(
        sql.Identifier(table)
    )
    with conn.cursor().copy(statement) as copy:
        copy.write(data)


def copy_data(frame: pl.DataFrame) -> bytes:
    """An intraday-shaped frame as the input of ``COPY ... FROM STDIN (FORMAT binary)`` of its four columns.

    Built a column at a time: every row is a fixed-width numpy record, trimmed only where a user
    id is shorter than the longest or a confidence is NULL. Refuses NULL user ids, times or bpm
    (the table's NOT NULL columns) with ``ValueError``.
    """
    for column in ("user_id", "time", "bpm"):
        if frame[column].null_count():
            raise ValueError(f"cannot load readings with a NULL {column}")
    n = frame.height
    if n == 0:
        return _COPY_HEADER + _COPY_TRAILER
    users = frame["user_id"].unique().sort()
    names = [name.encode() for name in users.to_list()]
    width = max(map(len, names))
    user = frame["user_id"].rank("dense").to_numpy() - 1  # index into the sorted names
    row = np.dtype(
        [
            ("fields", ">i2"),
            ("user_id_length", ">i4"),
            ("user_id", f"S{width}"),
            ("time_length", ">i4"),
            ("time", ">i8"),
            ("bpm_length", ">i4"),
            ("bpm", ">i2"),
            ("confidence_length", ">i4"),
            ("confidence", ">i2"),
        ]
    )
    rows = np.empty(n, dtype=row)
    rows["fields"] = len(INTRADAY_COLUMNS)
    user_length = np.array(list(map(len, names)), dtype=np.int32)[user]
    rows["user_id_length"] = user_length
    rows["user_id"] = np.array(names, dtype=f"S{width}")[user]
    rows["time_length"] = row["time"].itemsize
    rows["time"] = frame["time"].dt.epoch("us").to_numpy() - _POSTGRES_EPOCH_US
    rows["bpm_length"] = row["bpm"].itemsize
    rows["bpm"] = frame["bpm"].to_numpy()
    confidence = frame["confidence"]
    present = confidence.is_not_null().to_numpy()
    rows["confidence_length"] = np.where(present, row["confidence"].itemsize, _NULL_LENGTH)
    rows["confidence"] = confidence.fill_null(0).to_numpy()

    table = rows.view(np.uint8).reshape(n, row.itemsize)
    short_user = user_length < width
    if not short_user.any() and present.all():
        body = table.tobytes()
    elif not short_user.any() and not present.any():
        body = table[:, : -row["confidence"].itemsize].tobytes()
    else:
        keep = np.ones(table.shape, dtype=np.bool_)
        user_start = row["fields"].itemsize + row["user_id_length"].itemsize
        keep[:, user_start : user_start + width] = np.arange(width) < user_length[:, None]
        keep[:, -row["confidence"].itemsize :] = present[:, None]
        body = table[keep].tobytes()
    return _COPY_HEADER + body + _COPY_TRAILER


def load_intraday(
    conn: psycopg.Connection,
    parsed: ParsedIntraday,
    *,
    user_id: str,
    day: date,
    source: str,
    encoded: bytes | None = None,
) -> LoadResult:
    """Replace one partition's readings with ``parsed`` (and its quarantined records).

    ``encoded`` is ``copy_data(parsed.readings)`` when the caller has it already: :func:`ingest`
    encodes on its parsing thread, so that the writing thread only waits for the server.
    """
    data = copy_data(parsed.readings) if encoded is None else encoded
    window = {"user_id": user_id, "start": parsed.window_start, "end": parsed.window_end}
    written = parsed.readings.height
    with conn.transaction():
        conn.execute(query("intraday_lock_partition"), {"user_id": user_id, "day_number": day.toordinal()})
        existing = _scalar(conn, "intraday_count_window", window)
        if existing == 0:
            copy_rows(conn, "activities_heart_intraday", data)
            inserted, updated, deleted = written, 0, 0
        else:
            conn.execute(query("intraday_stage_create"))
            conn.execute(query("intraday_merge_plan"))
            copy_rows(conn, "intraday_stage", data)
            changed = conn.execute(query("intraday_update_changed"), window).rowcount
            unmatched = conn.execute(query("intraday_insert_new"), window).rowcount
            changed += unmatched
            # With every reading inside the window, the rows just inserted are exactly the staged
            # rows that matched no stored one, so the stored rows left unmatched are known without
            # the anti-join of the DELETE, which then runs only when there are some.
            unmatched_stored = existing - (written - unmatched) if _inside_window(parsed) else None
            deleted = conn.execute(query("intraday_delete_stale"), window).rowcount if unmatched_stored != 0 else 0
            inserted = written - (existing - deleted)
            updated = changed - inserted
        quarantined = _replace_quarantine(conn, user_id, day, "intraday", source, parsed.quarantined)
        _record_load(
            conn,
            user_id,
            day,
            "intraday",
            written,
            quarantined,
            covered_seconds=covered_seconds(parsed.readings),
            day_seconds=parsed.day_seconds,
            stats=reading_stats(parsed.readings),
        )
    return LoadResult(written, inserted, updated, deleted, quarantined)


def analyze_after_bulk_load(conn: psycopg.Connection, rows_inserted: int) -> bool:
    """ANALYZE the raw table if ``rows_inserted`` grew it by more than ANALYZE_GROWTH_SHARE; say whether it did.

    PostgreSQL mode only: a hypertable's own row estimate stays empty (its rows are in chunks),
    and analyzing it would sample every chunk after every load.
    """
    estimated = max(_scalar(conn, "intraday_estimated_rows", {}), 0)
    if rows_inserted == 0 or rows_inserted <= ANALYZE_GROWTH_SHARE * estimated:
        return False
    conn.execute(query("intraday_analyze"))
    return True


def load_summary(conn: psycopg.Connection, parsed: ParsedSummary, *, source: str) -> LoadResult:
    """Upsert one day's summary (and its quarantined parts); a summary without data removes the day's row."""
    has_data = bool(parsed.heart_rate_zones or parsed.custom_heart_rate_zones or parsed.resting_heart_rate is not None)
    with conn.transaction():
        inserted = updated = deleted = 0
        if not has_data:
            deleted = conn.execute(query("summary_delete"), {"user_id": parsed.user_id, "date": parsed.day}).rowcount
        else:
            row = conn.execute(
                query("summary_upsert"),
                {
                    "user_id": parsed.user_id,
                    "date": parsed.day,
                    "resting_heart_rate": parsed.resting_heart_rate,
                    "heart_rate_zones": Jsonb(parsed.heart_rate_zones),
                    "custom_heart_rate_zones": Jsonb(parsed.custom_heart_rate_zones),
                },
            ).fetchone()
            inserted, updated = (1, 0) if row and row[0] else (0, 1)
        quarantined = _replace_quarantine(conn, parsed.user_id, parsed.day, "summary", source, parsed.quarantined)
        _record_load(conn, parsed.user_id, parsed.day, "summary", int(has_data), quarantined)
    return LoadResult(int(has_data), inserted, updated, deleted, quarantined)


def quarantine_payload(
    conn: psycopg.Connection, *, user_id: str, day: date, payload: str, source: str, record: str, reason: str
) -> None:
    """Keep a payload that was refused whole, so that nothing is lost and the reason is on file."""
    frame = pl.DataFrame({"record": [record], "reason": [reason]})
    with conn.transaction():
        _replace_quarantine(conn, user_id, day, payload, source, frame)


def _inside_window(parsed: ParsedIntraday) -> bool:
    """Whether every reading lies in the partition's local day (always so for parse_intraday's)."""
    inside = pl.col("time").is_between(parsed.window_start, parsed.window_end, closed="left")
    return parsed.readings.filter(~inside).is_empty()


def covered_seconds(readings: pl.DataFrame) -> int:
    """Seconds of the day with readings, counted as whole minutes that hold at least one."""
    if readings.is_empty():
        return 0
    return int(readings.select(pl.col("time").dt.truncate("1m").n_unique()).item()) * 60


@dataclass(frozen=True)
class ReadingStats:
    """A partition's readings in figures, recorded with its load: the day's exact aggregate."""

    min_bpm: int | None = None
    max_bpm: int | None = None
    sum_bpm: int | None = None
    first_reading: datetime | None = None
    last_reading: datetime | None = None


def reading_stats(readings: pl.DataFrame) -> ReadingStats:
    """Lowest, highest and summed bpm and the first and last reading's time; all None without readings."""
    if readings.is_empty():
        return ReadingStats()
    row = readings.select(
        pl.col("bpm").min().alias("min_bpm"),
        pl.col("bpm").max().alias("max_bpm"),
        pl.col("bpm").cast(pl.Int64).sum().alias("sum_bpm"),
        pl.col("time").min().alias("first_reading"),
        pl.col("time").max().alias("last_reading"),
    ).row(0)
    return ReadingStats(*row)


def _replace_quarantine(
    conn: psycopg.Connection, user_id: str, day: date, payload: str, source: str, rejected: pl.DataFrame
) -> int:
    key = {"user_id": user_id, "date": day, "payload": payload}
    conn.execute(query("quarantine_clear"), key)
    if rejected.height:
        with conn.cursor() as cur:
            cur.executemany(
                query("quarantine_insert"),
                [{**key, "source": source, **row} for row in rejected.iter_rows(named=True)],
            )
    return rejected.height


def _record_load(
    conn: psycopg.Connection,
    user_id: str,
    day: date,
    payload: str,
    rows: int,
    quarantined: int,
    *,
    covered_seconds: int | None = None,
    day_seconds: int | None = None,
    stats: ReadingStats | None = None,
) -> None:
    stats = stats or ReadingStats()
    conn.execute(
        query("partition_load_record"),
        {
            "user_id": user_id,
            "date": day,
            "payload": payload,
            "rows_loaded": rows,
            "rows_quarantined": quarantined,
            "covered_seconds": covered_seconds,
            "day_seconds": day_seconds,
            "min_bpm": stats.min_bpm,
            "max_bpm": stats.max_bpm,
            "sum_bpm": stats.sum_bpm,
            "first_reading": stats.first_reading,
            "last_reading": stats.last_reading,
        },
    )


def _scalar(conn: psycopg.Connection, name: str, params: dict[str, object]) -> int:
    row = conn.execute(query(name), params).fetchone()
    return int(row[0]) if row else 0
