"""The analysis-ready export's tables, layout, writers, de-identification and data dictionary.

Plain functions and types over column batches: no database, no Dagster. The export runner
(``hr_assets.domain.export_runner``) reads batches from the warehouse and hands them here.

Layout (hive style, one folder per table, so one glob reads a table and the participant prunes):

    <table>/user_id=<id>/month=<YYYY-MM>/part-0.parquet   readings, minute, hour (local month)
    <table>/user_id=<id>/part-0.parquet                  day, summary, zones, quarantine, wear
    participants/part-0.parquet
    manifest.json, dictionary.json, dictionary.md

Partition columns live in the path only (as Spark and ``pyarrow.dataset`` write them).
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import PurePosixPath
from typing import Any, Literal

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

# The export's own schema: raised whenever a table, column or the layout changes meaning, so that an
# incremental export never keeps files written under an older one.
EXPORT_SCHEMA_VERSION = 1
# Rows per Parquet row group (and per batch read from the warehouse). Readers parallelise and prune by
# row group; DuckDB's own row groups are 122,880 rows. 512 Ki raw readings are ~2 MB compressed and ~10 MB
# as columns. (Halving it from 1 Mi did not lower a dense export's peak memory in bench-export: ~480 MB.)
ROW_GROUP_ROWS = 1 << 19
# zstd level 3 is zstd's own default: near its best ratio on these columns at several times level 9's speed.
ZSTD_LEVEL = 3
# A valid day: worn for at least 10 hours, the rule of the NHANES accelerometer studies (Troiano et al.,
# Med Sci Sports Exerc 2008) that wearable studies commonly adopt; worn_minutes lets an analyst choose another.
VALID_DAY_WORN_MINUTES = 600
# De-identification shifts each participant's dates by up to this many days either way (half a year:
# enough to hide the calendar, little enough to keep the season roughly).
DEFAULT_MAX_SHIFT_DAYS = 182
DAYS_PER_WEEK = 7
MICROSECONDS_PER_DAY = 86_400_000_000
MICROSECONDS_PER_MINUTE = 60_000_000
PSEUDONYM_HEX_DIGITS = 16  # 64 bits: no collision to expect below billions of participants
PSEUDONYM_PREFIX = "p"  # never all digits, so no reader infers the partition column as a number

Format = Literal["parquet", "csv"]
FORMATS: tuple[Format, ...] = ("parquet", "csv")
Granularity = Literal["month", "participant", "study"]

UTC_TIMESTAMP = pa.timestamp("us", tz="UTC")


class ExportError(ValueError):
    """An export asked for what cannot be done (an unknown table, a missing key); the message says what."""


@dataclass(frozen=True)
class ColumnDef:
    name: str
    type: pa.DataType
    unit: str
    definition: str


@dataclass(frozen=True)
class TableDef:
    name: str
    description: str
    granularity: Granularity
    columns: tuple[ColumnDef, ...]
    # Read with a binary COPY in batches (the large tables) rather than as one query's rows.
    streamed: bool = False
    # Whose load records decide when a file is stale: "intraday", "summary" or both (None).
    payload: str | None = None
    in_default: bool = True
    # Left out of a de-identified export (free text that may carry real dates or identifiers).
    identifying: bool = False
    # Present only where the warehouse's schema has it; its columns are then taken as they stand.
    optional: bool = False

    @property
    def schema(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, c.type) for c in self.columns])


def _local_columns(time_column: str) -> tuple[ColumnDef, ...]:
    return (
        ColumnDef(
            "local_date",
            pa.date32(),
            "date",
            f"The participant's local calendar day of {time_column} (see Local day).",
        ),
        ColumnDef(
            "utc_offset_minutes",
            pa.int16(),
            "minutes",
            f"The participant's UTC offset at {time_column}: local time = {time_column} + this offset.",
        ),
    )


def _rollup(name: str, width: str) -> TableDef:
    return TableDef(
        name=name,
        description=f"{width} buckets of the raw readings, aligned to UTC (the warehouse's rollup).",
        granularity="month",
        streamed=True,
        payload="intraday",
        columns=(
            ColumnDef("bucket", UTC_TIMESTAMP, "UTC timestamp", f"Start of the {width} bucket."),
            *_local_columns("bucket"),
            ColumnDef("min_bpm", pa.int16(), "beats per minute", "Lowest reading in the bucket."),
            ColumnDef("max_bpm", pa.int16(), "beats per minute", "Highest reading in the bucket."),
            ColumnDef("avg_bpm", pa.float64(), "beats per minute", "Mean of the bucket's readings."),
            ColumnDef("sum_bpm", pa.int64(), "beats per minute", "Sum of the readings (to combine buckets exactly)."),
            ColumnDef("sample_count", pa.int64(), "readings", "Readings in the bucket."),
        ),
    )


TABLES: dict[str, TableDef] = {
    t.name: t
    for t in (
        TableDef(
            name="readings",
            description="Raw intraday heart-rate readings as the source recorded them (one every few seconds).",
            granularity="month",
            streamed=True,
            payload="intraday",
            columns=(
                ColumnDef("time", UTC_TIMESTAMP, "UTC timestamp", "When the reading was taken."),
                *_local_columns("time"),
                ColumnDef("bpm", pa.int16(), "beats per minute", "Heart rate."),
                ColumnDef(
                    "confidence",
                    pa.int16(),
                    "source scale",
                    "The source's confidence in the reading where it reports one (Fitbit: 0-3), else null.",
                ),
            ),
        ),
        _rollup("minute", "1-minute"),
        _rollup("hour", "1-hour"),
        TableDef(
            name="day",
            description="One row per local day with readings: the day's exact figures over its local calendar day.",
            granularity="participant",
            payload="intraday",
            columns=(
                ColumnDef("date", pa.date32(), "date", "The local day (see Local day)."),
                ColumnDef("sample_count", pa.int64(), "readings", "Readings in the local day."),
                ColumnDef("min_bpm", pa.int16(), "beats per minute", "Lowest reading of the day."),
                ColumnDef("max_bpm", pa.int16(), "beats per minute", "Highest reading of the day."),
                ColumnDef("sum_bpm", pa.int64(), "beats per minute", "Sum of the day's readings."),
                ColumnDef("mean_bpm", pa.float64(), "beats per minute", "sum_bpm / sample_count."),
                ColumnDef("first_reading", UTC_TIMESTAMP, "UTC timestamp", "The day's first reading."),
                ColumnDef("last_reading", UTC_TIMESTAMP, "UTC timestamp", "The day's last reading."),
                ColumnDef("worn_minutes", pa.int32(), "minutes", "Worn minutes of the day (see Worn minute)."),
                ColumnDef(
                    "day_minutes", pa.int32(), "minutes", "Length of the local day: 1440, or 1380/1500 on DST days."
                ),
                ColumnDef("valid_day", pa.bool_(), "", "Whether the day is a valid day (see Valid day)."),
                ColumnDef("rows_quarantined", pa.int32(), "records", "Records of the day the loader refused."),
            ),
        ),
        TableDef(
            name="summary",
            description="The source's daily summary: resting heart rate and how many zones it reported.",
            granularity="participant",
            payload="summary",
            columns=(
                ColumnDef("date", pa.date32(), "date", "The local day (see Local day)."),
                ColumnDef(
                    "resting_heart_rate",
                    pa.int16(),
                    "beats per minute",
                    "Resting heart rate as the source computed it (see Resting heart rate); null if none.",
                ),
                ColumnDef("zones", pa.int32(), "zones", "Standard zones reported for the day (rows in zones)."),
                ColumnDef("custom_zones", pa.int32(), "zones", "Custom zones reported for the day."),
            ),
        ),
        TableDef(
            name="zones",
            description="The daily summary's heart-rate zones: limits and minutes as the source defines them.",
            granularity="participant",
            payload="summary",
            columns=(
                ColumnDef("date", pa.date32(), "date", "The local day (see Local day)."),
                ColumnDef("kind", pa.string(), "", "'standard' (heartRateZones) or 'custom' (customHeartRateZones)."),
                ColumnDef("position", pa.int16(), "", "1-based position of the zone in the source's list."),
                ColumnDef("name", pa.string(), "", "The zone's name (Fitbit: Out of Range, Fat Burn, Cardio, Peak)."),
                ColumnDef("min_bpm", pa.int32(), "beats per minute", "Lower limit of the zone (see Zones)."),
                ColumnDef("max_bpm", pa.int32(), "beats per minute", "Upper limit of the zone (see Zones)."),
                ColumnDef("minutes", pa.int32(), "minutes", "Minutes of the day the source counted in the zone."),
                ColumnDef("calories_out", pa.float64(), "kcal", "Energy the source estimated for those minutes."),
            ),
        ),
        TableDef(
            name="quarantine",
            description="Records the loader refused, with the reason (asked for with --tables; never de-identified).",
            granularity="participant",
            in_default=False,
            identifying=True,
            columns=(
                ColumnDef("date", pa.date32(), "date", "The local day whose load refused the record."),
                ColumnDef("payload", pa.string(), "", "'intraday' or 'summary'."),
                ColumnDef("record", pa.string(), "", "The refused record as the source sent it."),
                ColumnDef("reason", pa.string(), "", "Why it was refused."),
                ColumnDef("quarantined_at", UTC_TIMESTAMP, "UTC timestamp", "When it was refused."),
            ),
        ),
        TableDef(
            name="wear",
            description="Per participant and local day wear records, where the warehouse keeps them (as stored).",
            granularity="participant",
            optional=True,
            columns=(),
        ),
        TableDef(
            name="participants",
            description="One row per participant in the export.",
            granularity="study",
            columns=(
                ColumnDef("user_id", pa.string(), "", "The participant's id (a pseudonym when de-identified)."),
                ColumnDef("cohort", pa.string(), "", "The participant's cohort, where the warehouse records one."),
                ColumnDef(
                    "timezone",
                    pa.string(),
                    "",
                    "IANA time zone of the participant's local days (null if de-identified).",
                ),
                ColumnDef("source", pa.string(), "", "Kind of source: simulated, fitbit_export or google_health."),
                ColumnDef("first_day", pa.date32(), "date", "First local day loaded."),
                ColumnDef("last_day", pa.date32(), "date", "Last local day loaded."),
            ),
        ),
    )
}
DEFAULT_TABLES = tuple(name for name, t in TABLES.items() if t.in_default)


def check_tables(names: Sequence[str], *, deidentify: bool) -> tuple[str, ...]:
    """``names`` (in the export's order) if every one is a table; :class:`ExportError` otherwise."""
    unknown = sorted(set(names) - set(TABLES))
    if unknown:
        raise ExportError(f"unknown table(s) {', '.join(unknown)}; the export has {', '.join(TABLES)}")
    if deidentify:
        refused = [n for n in names if TABLES[n].identifying]
        if refused:
            raise ExportError(f"table(s) {', '.join(refused)} cannot be de-identified (free text); leave them out")
    return tuple(n for n in TABLES if n in names)


# --- layout --------------------------------------------------------------------------------------


def file_path(table: str, fmt: Format, *, user: str | None = None, month: str | None = None) -> str:
    """The file's path inside the export (``/``-separated), by the layout above; ``month`` from :func:`month_key`."""
    parts = [table]
    if user is not None:
        parts.append(f"user_id={user}")
    if month is not None:
        parts.append(f"month={month}")
    parts.append(f"part-0.{fmt}")
    return str(PurePosixPath(*parts))


def month_key(day: date) -> str:
    return f"{day:%Y-%m}"


def month_start(day: date) -> date:
    return day.replace(day=1)


def month_end(day: date) -> date:
    """The last day of ``day``'s month."""
    following = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
    return following - timedelta(days=1)


# --- de-identification ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Pseudonymizer:
    """Stable pseudonyms and date shifts derived from the operator's key (HMAC-SHA256).

    The same key gives the same pseudonym and shift for a participant in every export; another
    key gives unrelated ones. Shifts are whole days in [-max_shift_days, max_shift_days], never 0,
    and multiples of 7 (weekday kept) when ``keep_weekday``.
    """

    key: bytes = field(repr=False)
    max_shift_days: int = DEFAULT_MAX_SHIFT_DAYS
    keep_weekday: bool = False

    def __post_init__(self) -> None:
        if not self.key:
            raise ExportError("de-identifying needs a key: set HR_EXPORT_PSEUDONYM_KEY")
        smallest = DAYS_PER_WEEK if self.keep_weekday else 1
        if self.max_shift_days < smallest:
            raise ExportError(f"the largest shift must be at least {smallest} day(s), not {self.max_shift_days}")

    def _digest(self, purpose: str, user_id: str) -> bytes:
        return hmac.new(self.key, f"{purpose}\x00{user_id}".encode(), hashlib.sha256).digest()

    def pseudonym(self, user_id: str) -> str:
        return PSEUDONYM_PREFIX + self._digest("pseudonym", user_id).hex()[:PSEUDONYM_HEX_DIGITS]

    def shift_days(self, user_id: str) -> int:
        step = DAYS_PER_WEEK if self.keep_weekday else 1
        steps = self.max_shift_days // step  # the shift is +-1..steps times step
        drawn = int.from_bytes(self._digest("shift", user_id)[:8], "big") % (2 * steps)
        magnitude = drawn // 2 + 1
        return step * (magnitude if drawn % 2 else -magnitude)

    def fingerprint(self) -> str:
        """Tells keys apart in a manifest without revealing them."""
        return self._digest("key-fingerprint", "").hex()[:PSEUDONYM_HEX_DIGITS]


# --- batches to Arrow ----------------------------------------------------------------------------


def to_record_batch(
    table: TableDef, columns: Mapping[str, Any], *, timezone: str | None = None, shift_days: int = 0
) -> pa.RecordBatch:
    """A batch of ``table`` from the warehouse's columns, with the local-day columns and shifted by ``shift_days``.

    Streamed tables come as numpy columns (times as int64 microseconds since 1970, NULLs masked);
    the others as Python values. ``timezone`` places streamed rows in their local day.
    """
    values = dict(columns)
    if table.streamed:
        if timezone is None:
            raise ExportError(f"table {table.name} needs the participant's time zone")
        time_name = table.columns[0].name
        local_date, offset = local_day_columns(values[time_name], timezone)
        values["local_date"], values["utc_offset_minutes"] = local_date, offset
    if table.columns:
        arrays = [_array(values[c.name], c.type) for c in table.columns]
        batch = pa.RecordBatch.from_arrays(arrays, schema=table.schema)
    else:  # an optional table: its columns as the warehouse has them
        batch = pa.RecordBatch.from_pydict({name: pa.array(v) for name, v in values.items()})
    return shift_batch(batch, shift_days) if shift_days else batch


def _array(values: Any, type_: pa.DataType) -> pa.Array:
    if isinstance(values, np.ma.MaskedArray):
        return pa.array(values.data, type=type_, mask=np.ma.getmaskarray(values))
    if isinstance(values, pa.Array):
        return values.cast(type_)
    return pa.array(values, type=type_)


def local_day_columns(utc_us: np.ndarray[Any, Any], timezone: str) -> tuple[pa.Array, pa.Array]:
    """Each UTC instant's local date and UTC offset in minutes in ``timezone`` (DST and +5:45 zones alike)."""
    utc = pl.Series("t", utc_us, dtype=pl.Int64)
    local = utc.cast(pl.Datetime("us", "UTC")).dt.convert_time_zone(timezone).dt.replace_time_zone(None)
    offset = ((local.dt.epoch("us") - utc) // MICROSECONDS_PER_MINUTE).cast(pl.Int16)
    return local.dt.date().to_arrow(), offset.to_arrow()


def shift_batch(batch: pa.RecordBatch, days: int) -> pa.RecordBatch:
    """``batch`` with every date and timestamp column moved by ``days`` whole days (offsets unchanged)."""
    arrays = []
    for column in batch.columns:
        if pa.types.is_timestamp(column.type):
            moved = pc.add(column.cast(pa.int64()), days * MICROSECONDS_PER_DAY)
            column = moved.cast(column.type)
        elif pa.types.is_date32(column.type):
            column = pc.add(column.cast(pa.int32()), pa.scalar(days, pa.int32())).cast(column.type)
        arrays.append(column)
    return pa.RecordBatch.from_arrays(arrays, schema=batch.schema)


# --- writing -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WrittenFile:
    path: str
    rows: int
    bytes: int
    sha256: str


def csv_schema(schema: pa.Schema) -> pa.Schema:
    """``schema`` with UTC timestamps as text (see :func:`csv_batch`)."""
    return pa.schema([pa.field(f.name, pa.string()) if _is_utc(f.type) else f for f in schema])


def csv_batch(batch: pa.RecordBatch) -> pa.RecordBatch:
    """``batch`` with UTC timestamps as ``2025-06-01 08:00:00.000000Z``: Arrow's CSV writer formats a zoned
    timestamp ~25 times slower than this (measured: 7 s for 1 M readings), looking the zone up per value."""
    arrays = [
        pc.binary_join_element_wise(column.cast(pa.timestamp(column.type.unit)).cast(pa.string()), "Z", "")
        if _is_utc(column.type)
        else column
        for column in batch.columns
    ]
    return pa.RecordBatch.from_arrays(arrays, schema=csv_schema(batch.schema))


def _is_utc(type_: pa.DataType) -> bool:
    return bool(pa.types.is_timestamp(type_) and type_.tz == "UTC")


class _HashingSink(io.RawIOBase):
    """A write-only stream that hashes and counts what passes through to ``target``."""

    def __init__(self, target: Callable[[bytes], Any]) -> None:
        self._target = target
        self.sha256 = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self.sha256.update(chunk)
        self.size += len(chunk)
        self._target(chunk)
        return len(chunk)


class TableWriter:
    """Writes one file of a table, batch by batch (a Parquet row group per batch), hashing as it goes.

    ``target`` receives the file's bytes in order: a file's ``write`` or a streamed response's queue.
    """

    def __init__(self, target: Callable[[bytes], Any], schema: pa.Schema | None, fmt: Format) -> None:
        self._sink = _HashingSink(target)
        self._stream = pa.PythonFile(self._sink, mode="w")
        self._schema = schema
        self._format = fmt
        self._writer: pq.ParquetWriter | pa_csv.CSVWriter | None = None
        self.rows = 0

    def _open(self, schema: pa.Schema) -> pq.ParquetWriter | pa_csv.CSVWriter:
        if self._format == "parquet":
            return pq.ParquetWriter(
                self._stream, schema, compression="zstd", compression_level=ZSTD_LEVEL, write_statistics=True
            )
        return pa_csv.CSVWriter(self._stream, csv_schema(schema))

    def write(self, batch: pa.RecordBatch) -> None:
        if self._writer is None:
            self._schema = self._schema or batch.schema
            self._writer = self._open(self._schema)
        if batch.num_rows:
            if self._format == "parquet":
                self._writer.write_batch(batch, row_group_size=ROW_GROUP_ROWS)
            else:
                self._writer.write_batch(csv_batch(batch))
        self.rows += batch.num_rows

    def close(self) -> tuple[int, int, str]:
        """Finish the file (an empty table still gets its header or footer): rows, bytes, SHA-256."""
        if self._writer is None:
            self._writer = self._open(self._schema or pa.schema([]))
        self._writer.close()
        self._stream.close()
        return self.rows, self._sink.size, self._sink.sha256.hexdigest()


# --- dictionary and manifest ---------------------------------------------------------------------

CONCEPTS: dict[str, str] = {
    "Local day": "A participant's day is the calendar date in the participant's own time zone (an IANA tz "
    "database name), from local midnight to the next local midnight: 24 hours, 23 on the day clocks go forward and 25 "
    "on the day they go back, at any UTC offset (+5:45 too). Every timestamp is UTC; local_date and utc_offset_minutes "
    "give its local day and wall-clock time (time + utc_offset_minutes).",
    "Time zones": "A participant has one time zone, the one registered in the warehouse. A reading's local day and "
    "offset follow that zone's rules (tz database) at the reading's instant, so a DST change moves the offset "
    "within the day. Months in the layout are local months.",
    "Worn minute": "A minute of the local day with at least one reading. worn_minutes counts them; day_minutes is the "
    "local day's length.",
    "Valid day": f"A local day worn for at least {VALID_DAY_WORN_MINUTES} minutes (10 hours, the NHANES accelerometer "
    "rule commonly used for wearables). Use worn_minutes to apply another rule.",
    "Zones": "Heart-rate zones exactly as the source reported them. Fitbit derives its default zones from the "
    "participant's maximum heart rate (220 - age): Out of Range below 50 %, Fat Burn 50-69 %, Cardio 70-84 %, "
    "Peak 85 % and above, each zone from min_bpm to max_bpm; custom zones are the participant's own limits. The "
    "Google Health API's zones are mapped to the same shape. Minutes are the source's, not recomputed from readings.",
    "Resting heart rate": "The source's own daily resting heart rate (Fitbit computes it from heart rate while awake "
    "and still, over several days); the pipeline stores it as reported and does not recompute it. The simulator "
    "reports its participant's configured resting rate.",
    "Rollups": "minute and hour are UTC-aligned buckets; in zones whose offset is not a whole number of hours (+5:30, "
    "+5:45) an hour bucket spans two local days and carries the local day of its start. For exact daily figures use "
    "day, which covers the local day exactly.",
}

DEIDENTIFICATION = (
    "Participant ids are replaced by pseudonyms (HMAC-SHA256 of the id under the operator's key, stable across exports "
    "with the same key). Every date and timestamp of a participant is moved by one whole number of days drawn per "
    "participant from the same key (the same shift in every table and every export{weekday}), at most {max_days} days "
    "either way. UTC offsets are kept, so local days and wall-clock times still hold; time-zone names, names, source "
    "settings and the quarantine (free text) are left out. The mapping from ids to pseudonyms and shifts is kept by "
    "the operator outside this export. Risk that remains: heart-rate patterns are individual, and the UTC offset "
    "narrows where a participant lives; the shift hides the calendar but not the season's length or weekday rhythm "
    "(when kept); the day counts and first/last days give each participant's span. Treat the export as pseudonymised "
    "personal data, not anonymous data."
)


def dictionary(tables: Sequence[TableDef], *, pseudonymizer: Pseudonymizer | None) -> dict[str, Any]:
    """The data dictionary of an export of ``tables``: each table and column, the concepts, de-identification."""
    deidentification = None
    if pseudonymizer is not None:
        weekday = "; weekdays kept: the shift is a multiple of 7" if pseudonymizer.keep_weekday else ""
        deidentification = DEIDENTIFICATION.format(weekday=weekday, max_days=pseudonymizer.max_shift_days)
    return {
        "schema_version": EXPORT_SCHEMA_VERSION,
        "concepts": CONCEPTS,
        "deidentification": deidentification,
        "tables": {
            t.name: {
                "description": t.description,
                "layout": file_path(
                    t.name,
                    "parquet",
                    user=None if t.granularity == "study" else "<id>",
                    month="<YYYY-MM>" if t.granularity == "month" else None,
                ),
                "columns": [
                    {"name": c.name, "type": str(c.type), "unit": c.unit, "definition": c.definition} for c in t.columns
                ],
            }
            for t in tables
        },
    }


def dictionary_markdown(document: Mapping[str, Any]) -> str:
    """``document`` (from :func:`dictionary`) for people: a section per concept and a column table per table."""
    lines = ["# Data dictionary", "", f"Export schema version {document['schema_version']}.", ""]
    for title, text in document["concepts"].items():
        lines += [f"## {title}", "", text, ""]
    if document["deidentification"]:
        lines += ["## De-identification", "", document["deidentification"], ""]
    for name, table in document["tables"].items():
        lines += [f"## Table `{name}`", "", table["description"], "", f"Files: `{table['layout']}`", ""]
        if table["columns"]:
            lines += ["| column | type | unit | definition |", "|---|---|---|---|"]
            lines += [f"| {c['name']} | {c['type']} | {c['unit']} | {c['definition']} |" for c in table["columns"]]
        else:
            lines.append("Columns as the warehouse stores them.")
        lines.append("")
    return "\n".join(lines)


def manifest_json(manifest: Mapping[str, Any]) -> bytes:
    return json.dumps(manifest, indent=2, sort_keys=True, default=str).encode() + b"\n"
