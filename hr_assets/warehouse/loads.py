"""Writing parsed partitions: bulk, idempotent, one transaction per partition.

A partition (user, local day) is written so that loading it again leaves the table exactly
as one load would: readings that the new data no longer has are deleted, changed values
replace old ones, unchanged rows are not touched. The first load of a partition copies
straight into the table (the COPY ceiling); a re-load copies into a staging table and merges
with one ``INSERT ... ON CONFLICT DO UPDATE``. A failure anywhere rolls the partition back.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date

import polars as pl
import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from hr_assets.transform import ParsedIntraday, ParsedSummary
from hr_assets.warehouse.db import query

INTRADAY_COLUMNS = ("user_id", "time", "bpm", "confidence")
# ISO 8601 with an explicit UTC offset, which PostgreSQL parses into timestamptz exactly.
_COPY_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S%.6f+00:00"


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


def _csv(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.select(INTRADAY_COLUMNS).write_csv(
        buffer, include_header=False, datetime_format=_COPY_TIME_FORMAT, null_value=""
    )
    return buffer.getvalue()


def copy_rows(conn: psycopg.Connection, table: str, frame: pl.DataFrame) -> None:
    """COPY an intraday-shaped frame into ``table`` (a trusted name from this package)."""
    statement = sql.SQL("COPY {} (user_id, time, bpm, confidence) FROM STDIN (FORMAT csv)").format(
        sql.Identifier(table)
    )
    with conn.cursor().copy(statement) as copy:
        copy.write(_csv(frame))


def load_intraday(
    conn: psycopg.Connection, parsed: ParsedIntraday, *, user_id: str, day: date, source: str
) -> LoadResult:
    """Replace one partition's readings with ``parsed`` (and its quarantined records)."""
    window = {"user_id": user_id, "start": parsed.window_start, "end": parsed.window_end}
    written = parsed.readings.height
    with conn.transaction():
        conn.execute(query("intraday_lock_partition"), {"user_id": user_id, "day_number": day.toordinal()})
        existing = _scalar(conn, "intraday_count_window", window)
        if existing == 0:
            copy_rows(conn, "activities_heart_intraday", parsed.readings)
            inserted, updated, deleted = written, 0, 0
        else:
            conn.execute(query("intraday_stage_create"))
            copy_rows(conn, "intraday_stage", parsed.readings)
            deleted = conn.execute(query("intraday_delete_stale"), window).rowcount
            changed = conn.execute(query("intraday_upsert")).rowcount
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
        )
    return LoadResult(written, inserted, updated, deleted, quarantined)


def load_summary(conn: psycopg.Connection, parsed: ParsedSummary, *, source: str) -> LoadResult:
    """Upsert one day's summary (and its quarantined parts)."""
    has_data = bool(parsed.heart_rate_zones or parsed.resting_heart_rate is not None)
    with conn.transaction():
        inserted = updated = 0
        if has_data:
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
    return LoadResult(int(has_data), inserted, updated, 0, quarantined)


def quarantine_payload(
    conn: psycopg.Connection, *, user_id: str, day: date, payload: str, source: str, record: str, reason: str
) -> None:
    """Keep a payload that was refused whole, so that nothing is lost and the reason is on file."""
    frame = pl.DataFrame({"record": [record], "reason": [reason]})
    with conn.transaction():
        _replace_quarantine(conn, user_id, day, payload, source, frame)


def covered_seconds(readings: pl.DataFrame) -> int:
    """Seconds of the day with readings, counted as whole minutes that hold at least one."""
    if readings.is_empty():
        return 0
    return int(readings.select(pl.col("time").dt.truncate("1m").n_unique()).item()) * 60


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
) -> None:
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
        },
    )


def _scalar(conn: psycopg.Connection, name: str, params: dict[str, object]) -> int:
    row = conn.execute(query(name), params).fetchone()
    return int(row[0]) if row else 0
