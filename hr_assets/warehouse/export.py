"""What the analysis-ready export reads: participants, load records and each table's rows, streamed.

The large tables (raw readings, the 1-minute and 1-hour rollups) leave the server as
``COPY (SELECT ...) TO STDOUT (FORMAT binary)`` and are decoded a batch at a time into numpy
columns with one structured-array view, so memory stays at one batch whatever the window's size
and no Python object is made per row. The small per-day tables are ordinary queries. Nothing here
knows about files: the export's writer (``hr_assets.domain.export``) turns the columns into Parquet
or CSV.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np
import psycopg
from psycopg import sql

from hr_assets.warehouse.db import Warehouse, query, translated_errors

# PostgreSQL's binary COPY format ("COPY", section "Binary Format", of the PostgreSQL manual): an
# 11-byte signature, 32-bit flags and a 32-bit header-extension length, then per row a 16-bit field
# count and each field as a 32-bit length and its big-endian bytes; a 16-bit -1 ends the data.
_COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
_COPY_HEADER_BYTES = len(_COPY_SIGNATURE) + 4 + 4
# timestamptz travels as microseconds and date as days since 2000-01-01 (PostgreSQL's epoch).
POSTGRES_EPOCH_US = 946_684_800_000_000
POSTGRES_EPOCH_DAYS = 10_957

# The wire types of fixed-width columns and their big-endian numpy dtypes.
WIRE_DTYPES: dict[str, str] = {
    "int2": ">i2",
    "int4": ">i4",
    "int8": ">i8",
    "float8": ">f8",
    "bool": "?",
    "timestamptz": ">i8",
}

# The rollups the export reads, by the export's table name: a fixed mapping, never input.
ROLLUP_RELATIONS = {"minute": "activities_heart_intraday_1m", "hour": "activities_heart_intraday_1h"}

# Per participant x local day tables that only some schemas have, by the export's table name. Each is
# exported as it stands (every column but user_id), and skipped where the schema lacks it.
OPTIONAL_DAY_TABLES: dict[str, str] = {"wear": "participant_day_wear"}
# The users column holding a participant's cohort, where the schema has one.
COHORT_COLUMN = "cohort"


class ExportReadError(RuntimeError):
    """The warehouse sent what the export cannot decode (a schema that differs from the export's)."""


@dataclass(frozen=True)
class WireColumn:
    """A fixed-width column of a binary COPY; ``null_flag`` names the boolean column that says it is NULL."""

    name: str
    wire: str
    null_flag: str | None = None


READING_COLUMNS = (
    WireColumn("time", "timestamptz"),
    WireColumn("bpm", "int2"),
    WireColumn("confidence", "int2", null_flag="confidence_null"),
    WireColumn("confidence_null", "bool"),
)
ROLLUP_COLUMNS = (
    WireColumn("bucket", "timestamptz"),
    WireColumn("min_bpm", "int2"),
    WireColumn("max_bpm", "int2"),
    WireColumn("avg_bpm", "float8"),
    WireColumn("sum_bpm", "int8"),
    WireColumn("sample_count", "int8"),
)

# A batch: numpy columns (timestamps as int64 microseconds since 1970, NULLs as masked arrays) or, for
# the small tables, Python values.
Columns = dict[str, Any]


@dataclass(frozen=True)
class Participant:
    user_id: str
    cohort: str | None
    timezone: str
    source: str
    first_day: date | None
    last_day: date | None


@dataclass(frozen=True)
class LoadRecord:
    user_id: str
    date: date
    payload: str
    loaded_at: datetime


def has_column(conn: psycopg.Connection, table: str, column: str | None = None) -> bool:
    """Whether the schema has ``table`` (and its ``column``)."""
    row = conn.execute(query("export_column_exists"), {"table": table, "column": column}).fetchone()
    return bool(row and row[0])


def participants(
    conn: psycopg.Connection, *, user_ids: Sequence[str] | None = None, cohort: str | None = None
) -> list[Participant]:
    """The registered users an export covers (all, or those named, or one cohort's), by id.

    Raises :class:`ExportReadError` for a cohort asked of a schema without cohorts.
    """
    with_cohort = has_column(conn, "users", COHORT_COLUMN)
    if cohort is not None and not with_cohort:
        raise ExportReadError(f"cannot select cohort {cohort!r}: the warehouse records no cohorts")
    column = sql.SQL("u.{}").format(sql.Identifier(COHORT_COLUMN)) if with_cohort else sql.SQL("NULL::text")
    statement = query("export_participants").format(cohort=column)
    rows = conn.execute(statement, {"user_ids": list(user_ids) if user_ids else None, "cohort": cohort}).fetchall()
    return [Participant(*row) for row in rows]


def load_records(conn: psycopg.Connection, user_ids: Sequence[str]) -> list[LoadRecord]:
    """Every load record of ``user_ids``: each participant-day's payloads and when they were loaded."""
    rows = conn.execute(query("export_load_records"), {"user_ids": list(user_ids)}).fetchall()
    return [LoadRecord(*row) for row in rows]


def stream_readings(
    conn: psycopg.Connection, user_id: str, start: datetime, end: datetime, batch_rows: int
) -> Iterator[Columns]:
    """``user_id``'s raw readings in [start, end), oldest first, in batches of at most ``batch_rows``."""
    params = {"user_id": user_id, "start": start, "end": end}
    return _stream_binary(conn, query("export_readings"), params, READING_COLUMNS, batch_rows)


def stream_rollup(
    conn: psycopg.Connection, table: str, user_id: str, start: datetime, end: datetime, batch_rows: int
) -> Iterator[Columns]:
    """``user_id``'s buckets of the rollup the export calls ``table`` (``minute``, ``hour``) in [start, end)."""
    statement = query("export_rollup").format(relation=sql.Identifier(ROLLUP_RELATIONS[table]))
    params = {"user_id": user_id, "start": start, "end": end}
    return _stream_binary(conn, statement, params, ROLLUP_COLUMNS, batch_rows)


# The small per-day tables and their queries (each over one participant and a date range).
DAY_QUERIES = {
    "day": "export_daily",
    "summary": "export_summary",
    "zones": "export_zones",
    "quarantine": "export_quarantine",
}


def day_rows(
    conn: psycopg.Connection, table: str, user_id: str, start_date: date, end_date: date, *, valid_day_seconds: int
) -> Columns:
    """One participant's rows of a per-day table in [start_date, end_date], as columns of Python values.

    ``valid_day_seconds``: the wear a day needs to count as valid (the local-day level's ``valid_day``).
    """
    params = {
        "user_id": user_id,
        "start_date": start_date,
        "end_date": end_date,
        "valid_day_seconds": valid_day_seconds,
    }
    statement: sql.SQL | sql.Composed
    if table in OPTIONAL_DAY_TABLES:
        statement = query("export_day_table").format(table=sql.Identifier(OPTIONAL_DAY_TABLES[table]))
    else:
        statement = query(DAY_QUERIES[table])
    with conn.cursor() as cur:
        cur.execute(statement, params)
        names = [column.name for column in cur.description or ()]
        rows = cur.fetchall()
    columns = {name: [row[i] for row in rows] for i, name in enumerate(names)}
    columns.pop("user_id", None)  # the layout's partition column
    return columns


def _stream_binary(
    conn: psycopg.Connection,
    statement: sql.SQL | sql.Composed,
    params: dict[str, Any],
    columns: Sequence[WireColumn],
    batch_rows: int,
) -> Iterator[Columns]:
    row_type = _row_dtype(columns)
    batch_bytes = row_type.itemsize * batch_rows
    pending = bytearray()
    header_seen = False
    with conn.cursor() as cur, cur.copy(statement, params) as copy:
        for chunk in copy:
            pending += chunk
            if not header_seen:
                if len(pending) < _COPY_HEADER_BYTES:
                    continue
                _check_header(pending)
                del pending[:_COPY_HEADER_BYTES]
                header_seen = True
            while len(pending) >= batch_bytes:
                yield _decode(bytes(pending[:batch_bytes]), row_type, columns)
                del pending[:batch_bytes]
    if header_seen:
        whole = len(pending) // row_type.itemsize * row_type.itemsize
        if pending[whole:] != b"\xff\xff":
            raise ExportReadError("the binary COPY ended without its trailer: the row layout differs from the export's")
        if whole:
            yield _decode(bytes(pending[:whole]), row_type, columns)


def _row_dtype(columns: Sequence[WireColumn]) -> np.dtype[Any]:
    fields: list[tuple[str, str]] = [("field_count", ">i2")]
    for column in columns:
        fields += [(f"{column.name}_length", ">i4"), (column.name, WIRE_DTYPES[column.wire])]
    return np.dtype(fields)


def _check_header(data: bytearray) -> None:
    if bytes(data[: len(_COPY_SIGNATURE)]) != _COPY_SIGNATURE or bytes(data[15:19]) != bytes(4):
        raise ExportReadError("the warehouse's COPY output is not PostgreSQL's binary format without extensions")


def _decode(data: bytes, row_type: np.dtype[Any], columns: Sequence[WireColumn]) -> Columns:
    rows = np.frombuffer(data, dtype=row_type)
    if not (rows["field_count"] == len(columns)).all():
        raise ExportReadError(f"a COPY row does not have the export's {len(columns)} columns")
    decoded: Columns = {}
    flags = {column.null_flag for column in columns if column.null_flag}
    for column in columns:
        if column.name in flags:
            continue
        values = rows[column.name].astype(np.dtype(WIRE_DTYPES[column.wire]).newbyteorder("="))
        if column.wire == "timestamptz":
            values = values + POSTGRES_EPOCH_US
        if column.null_flag:
            values = np.ma.masked_array(values, mask=rows[column.null_flag].astype(bool))
        decoded[column.name] = values
    return decoded


@contextmanager
def snapshot(warehouse: Warehouse) -> Iterator[psycopg.Connection]:
    """A read-only REPEATABLE READ transaction: every table of an export from one consistent state."""
    with warehouse.connection() as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        yield conn


@contextmanager
def savepoint(conn: psycopg.Connection) -> Iterator[None]:
    """A block whose failure is rolled back to its start (the transaction goes on) and raised translated."""
    with translated_errors(), conn.transaction():
        yield
