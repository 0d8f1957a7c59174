"""What the analysis-ready export reads: participants, load records and each table's rows, streamed.

The large tables (raw readings, the 1-minute and 1-hour rollups) leave the server as one row per
UTC day holding each column as an array, in binary through a server-side cursor, decoded into numpy
columns a batch at a time: memory stays at one batch whatever the window's size, and no Python
object is made per reading. The small per-day tables are ordinary queries. Nothing here
knows about files: the export's writer (``hr_assets.domain.export``) turns the columns into Parquet
or CSV.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np
import psycopg
from psycopg import sql
from psycopg.abc import Buffer
from psycopg.adapt import Loader
from psycopg.pq import Format

from hr_assets.warehouse.db import Warehouse, query, translated_errors

# In PostgreSQL's binary format ("Binary Format" of COPY and the send functions of the types) values are
# big-endian; timestamptz travels as microseconds and date as days since 2000-01-01 (PostgreSQL's epoch).
POSTGRES_EPOCH_US = 946_684_800_000_000
POSTGRES_EPOCH_DAYS = 10_957

# The element types of the streamed arrays and their big-endian numpy dtypes.
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
OPTIONAL_DAY_TABLES: dict[str, str] = {"wear": "wear_days"}
# The users column holding a participant's cohort, where the schema has one.
COHORT_COLUMN = "cohort"


class ExportReadError(RuntimeError):
    """The warehouse sent what the export cannot decode (a schema that differs from the export's)."""


@dataclass(frozen=True)
class WireColumn:
    """A streamed column (an array of fixed-width elements); ``null_flag`` names the boolean column that says
    which elements are NULL."""

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
    """Rows of one UTC day each, every column an array (``array_agg``), fetched in binary through a
    server-side cursor and decoded with numpy, in batches of at least ``batch_rows`` elements.

    One row a day instead of one a reading: psycopg's cost per row or COPY message (measured ~7 us,
    more than the rest of the export's work per reading; 518,400 dense readings took 6.4 s by a
    row-per-reading binary COPY, 0.9 s this way) is paid once a day. Values stay bound parameters.
    """
    parts: dict[str, list[np.ndarray[Any, Any]]] = {c.name: [] for c in columns}
    held = 0
    # A server-side cursor lives in a transaction: the export's snapshot, or one of its own on the API's
    # autocommit connections.
    scope = conn.transaction() if conn.autocommit else nullcontext()
    with scope, conn.cursor(name=f"export_{uuid.uuid4().hex}", binary=True) as cur:
        for wire in WIRE_DTYPES:
            cur.adapters.register_loader(conn.adapters.types[wire].array_oid, _RawArray)
        cur.execute(statement, params)
        days = 1
        while rows := cur.fetchmany(days):
            size = 0
            for row in rows:
                for column, data in zip(columns, row, strict=True):
                    parts[column.name].append(_array_values(data, column))
                    size += len(data)
                held += len(parts[columns[0].name][-1])
            # As many days as fit in FETCH_BYTES, judged by the days just read (dense: ~4, sparse: a month).
            days = max(1, min(MAX_DAYS_PER_FETCH, FETCH_BYTES * len(rows) // max(size, 1)))
            if held >= batch_rows:
                yield _columns(parts, columns)
                parts = {c.name: [] for c in columns}
                held = 0
    if held:
        yield _columns(parts, columns)


# Bytes fetched per round trip: a dense day's arrays are ~2.2 MB (86,400 readings), a sparse watch's
# (one reading per 10 minutes) ~4 kB; a round trip costs ~1-3 ms here, whatever it carries.
FETCH_BYTES = 8 << 20
MAX_DAYS_PER_FETCH = 366
_INT32 = np.dtype(">i4")
# A one-dimensional array without NULLs in binary: dimensions, NULL flag, element type, then its size and
# lower bound, then each element as a 32-bit length and its bytes.
_ARRAY_HEADER_INTS = 5


class _RawArray(Loader):
    """An array column as its binary bytes, for numpy to decode (no Python object per element)."""

    format = Format.BINARY

    def load(self, data: Buffer) -> bytes:
        return bytes(data)


def _array_values(data: bytes, column: WireColumn) -> np.ndarray[Any, Any]:
    ndim, has_null, _oid, size, _lower = np.frombuffer(data, _INT32, _ARRAY_HEADER_INTS)
    if ndim != 1 or has_null:
        raise ExportReadError(f"column {column.name} is not a one-dimensional array without NULLs")
    element = np.dtype([("length", ">i4"), ("value", WIRE_DTYPES[column.wire])])
    values = np.frombuffer(data, element, int(size), _ARRAY_HEADER_INTS * _INT32.itemsize)["value"]
    return values.astype(values.dtype.newbyteorder("="))


def _columns(parts: dict[str, list[np.ndarray[Any, Any]]], columns: Sequence[WireColumn]) -> Columns:
    decoded: Columns = {}
    flags = {column.null_flag for column in columns if column.null_flag}
    for column in columns:
        if column.name in flags:
            continue
        values = np.concatenate(parts[column.name])
        if column.wire == "timestamptz":
            values = values + POSTGRES_EPOCH_US
        if column.null_flag:
            values = np.ma.masked_array(values, mask=np.concatenate(parts[column.null_flag]).astype(bool))
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
