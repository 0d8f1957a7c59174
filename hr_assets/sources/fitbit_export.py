"""Source ``fitbit_export``: a folder unpacked from a Fitbit data export or a Google Takeout.

A user registers with ``source_config = {"path": "/abs/folder", "export_timezone": "<IANA zone>"}``
(``export_timezone`` optional). The folder is searched recursively once (file names only, never
contents) and the index is cached per folder for the life of the source object; ``discover`` builds
it without a cache, for registering a user.

Files read, and how their times are understood
----------------------------------------------
* ``heart_rate-YYYY-MM-DD.json`` (legacy Fitbit export): a JSON array of
  ``{"dateTime": "MM/DD/YY HH:MM:SS", "value": {"bpm": 55, "confidence": 2}}``. Fitbit writes these
  timestamps, and the date in the file name, in **UTC**. ``export_timezone`` overrides that: the
  timestamps and file dates are then read as wall-clock times in that zone. In a zone with DST the
  repeated fall-back hour is resolved by file order (the first step back in time within that hour
  starts its second pass); a wall-clock time that does not exist there (spring-forward gap)
  cannot be a real reading and is passed through as unreadable (below).
* ``heart_rate_YYYY-MM-DD.csv`` (Google Takeout): header ``timestamp,beats per minute,data source``
  (older exports: without ``data source``), timestamps ``2026-06-10T16:37:52Z``. The ``Z`` says UTC,
  so ``export_timezone`` does not apply. Fractional seconds are accepted and cut to the second, the
  resolution of the payload. ``data source`` is not carried into the payload.
* ``resting_heart_rate-YYYY-MM-DD.json``: records ``{"dateTime": ..., "value": {"date": "MM/DD/YY",
  "value": 56.0, "error": 6.1}}``, possibly many days per file. ``value.date`` is the local date the
  estimate applies to; the value is rounded to the nearest int (halves up); 0 means "no estimate" and
  ``restingHeartRate`` is omitted. For local date D the files with the latest file date <= D are read
  (Fitbit names a multi-day file after its first day).
* ``time_in_heart_rate_zones-YYYY-MM-DD.json``: records ``{"dateTime": "MM/DD/YY 00:00:00", "value":
  {"valuesInZones": {...}}}``, the date being the local date, same file choice as resting heart rate.
  ``BELOW_DEFAULT_ZONE_1``, ``IN_DEFAULT_ZONE_1..3`` become the zones "Out of Range", "Fat Burn",
  "Cardio", "Peak" with ``minutes`` rounded to int (halves up). The files do not give zone
  boundaries, so ``min``/``max`` are omitted (the loader requires only ``name`` and ``minutes``); a
  zone missing from the record is omitted, not reported as 0 minutes. Any other key is passed into
  ``customHeartRateZones`` as ``{"name": <key>, "minutes": n}`` rather than dropped.

A local day D (``user.timezone``) spans parts of two (rarely three) file days, so ``fetch_day`` reads
the files whose day overlaps D's [midnight, next midnight) and keeps the readings inside D, ordered by
instant and rendered as local wall-clock times (a fall-back hour appears twice, in order; a
spring-forward gap never appears). A date without files gives an empty day, not an error.
``DayPayloads.origin`` lists the files read (paths relative to the folder, comma-separated).

Bad input: nothing is dropped or repaired silently
--------------------------------------------------
* A file that cannot be read at all raises ``SourceError`` naming it and the reason: empty file,
  malformed JSON (with line and column; ``NaN``/``Infinity`` count as malformed), a JSON top level
  that is not an array, a CSV whose header is not one of the expected ones (the message names the
  expected header), a CSV row with more fields than the header, bytes that are not UTF-8, a CSV
  field spanning lines (its line numbers would be wrong). A file name with an impossible date
  (``heart_rate-2024-02-30.json``) fails ``discover``.
* A heart-rate record that cannot be read becomes a dataset entry anyway, carrying
  ``"raw": "<file>:<line>"`` (CSV, line 1 being the header) or ``"raw": "<file>[<index>]"`` (JSON array
  index from 0), so that the loader quarantines it with its reference:

  - bpm not an integer (``"abc"``, empty, ``64.5``, a JSON string): ``value`` is what the file holds
    (CSV: the cell text; missing: null). Integral numbers written as decimals (``65.0``, the way
    Takeout writes them) are the same number and become ``65``, without ``raw`` (written with more
    than 4300 digits, which Python does not convert, they stay text, with ``raw``).
  - confidence present but not an integer: kept as found, with ``raw``.
  - timestamp that does not parse, a JSON record not shaped ``{"dateTime": ..., "value": {...}}``, or a
    reading dated outside its file's day (so no other day would read it): the reading cannot be
    placed, so it is attached to one day only, the local date of its file day's midday, with
    ``time`` = the raw timestamp text (null when missing, not a string, or shaped like ``HH:MM:SS``,
    which the loader would take for a valid time) and, for a misshapen JSON record, ``value`` = the
    whole record. These entries follow the placed readings.
* Impossible values (bpm 0, negative, > 250) and duplicate readings are passed through unchanged;
  the loader quarantines them. A readable CSV line with no field values carries no reading and is
  skipped.
* Resting heart rate and zones have no quarantine channel in the summary, so a record whose date
  cannot be read, or the day's record with a non-numeric value, or two records for the same day that
  disagree, raise ``SourceError`` naming the file and record index.
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import polars as pl

from hr_assets.sources.base import DateRange, DayPayloads, PayloadKind, SourceError, UserProfile

KIND = "fitbit_export"
CONFIG_KEYS = frozenset({"path", "export_timezone"})

# Fitbit writes the legacy export's timestamps and file dates in UTC.
DEFAULT_EXPORT_TIMEZONE = "UTC"
UTC = "UTC"

_DATE = r"(\d{4}-\d{2}-\d{2})"
HEART_RATE_JSON_NAME = re.compile(rf"heart_rate-{_DATE}\.json")
HEART_RATE_CSV_NAME = re.compile(rf"heart_rate_{_DATE}\.csv")
RESTING_HEART_RATE_NAME = re.compile(rf"resting_heart_rate-{_DATE}\.json")
HEART_RATE_ZONES_NAME = re.compile(rf"time_in_heart_rate_zones-{_DATE}\.json")
_FILE_NAMES = (HEART_RATE_JSON_NAME, HEART_RATE_CSV_NAME, RESTING_HEART_RATE_NAME, HEART_RATE_ZONES_NAME)

LEGACY_TIMESTAMP_FORMAT = "%m/%d/%y %H:%M:%S"
LEGACY_DATE_FORMAT = "%m/%d/%y"
# ``%.f`` also matches no fraction at all.
CSV_TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S%.fZ"
CSV_TIMESTAMP = "timestamp"
CSV_BPM = "beats per minute"
CSV_DATA_SOURCE = "data source"
CSV_HEADERS = ((CSV_TIMESTAMP, CSV_BPM, CSV_DATA_SOURCE), (CSV_TIMESTAMP, CSV_BPM))

# valuesInZones keys -> Fitbit Web API zone names, in the API's order.
ZONE_NAMES = {
    "BELOW_DEFAULT_ZONE_1": "Out of Range",
    "IN_DEFAULT_ZONE_1": "Fat Burn",
    "IN_DEFAULT_ZONE_2": "Cardio",
    "IN_DEFAULT_ZONE_3": "Peak",
}

# Shaped like a wall-clock time: a raw timestamp of this shape must not pose as a valid ``time``.
_WALL_CLOCK = re.compile(r"\d{1,2}:\d{2}(:\d{2})?")
# Integral numbers, possibly written with a zero fraction ("65", "65.0").
_INTEGRAL_TEXT = re.compile(r"-?[0-9]+(\.0+)?")
_JSON_SEPARATORS = (",", ":")
_ABSENT = object()


@dataclass(frozen=True)
class ExportIndex:
    """The files of an export folder by file-name date, per kind (paths relative to ``root``).

    Heart-rate file dates are UTC dates (legacy JSON: dates in ``export_timezone`` when set);
    resting heart rate and zone files are named after the first local date they hold.
    """

    root: Path
    heart_rate_json: Mapping[date, tuple[Path, ...]]
    heart_rate_csv: Mapping[date, tuple[Path, ...]]
    resting_heart_rate: Mapping[date, tuple[Path, ...]]
    heart_rate_zones: Mapping[date, tuple[Path, ...]]

    def heart_rate_dates(self) -> list[date]:
        """Sorted file dates having a heart-rate file of either format."""
        return sorted({*self.heart_rate_json, *self.heart_rate_csv})


def discover(path: Path) -> ExportIndex:
    """Index the export under ``path`` (recursively) from file names alone.

    Raises ``SourceError`` if ``path`` is not a folder, a subfolder cannot be listed, or a file
    name carries an impossible date.
    """
    root = Path(path)
    if not root.is_dir():
        raise SourceError(f"fitbit_export: {root} is not a folder")
    kinds: dict[re.Pattern[str], dict[date, list[Path]]] = {pattern: {} for pattern in _FILE_NAMES}
    pending = [root]
    while pending:
        folder = pending.pop()
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    # Symlinked folders are not followed: they could loop.
                    if entry.is_dir(follow_symlinks=False):
                        pending.append(Path(entry.path))
                        continue
                    for pattern, files in kinds.items():
                        match = pattern.fullmatch(entry.name)
                        if match:
                            relative = Path(entry.path).relative_to(root)
                            try:
                                day = date.fromisoformat(match.group(1))
                            except ValueError:
                                raise SourceError(
                                    f"fitbit_export: {relative}: file name has an impossible date"
                                ) from None
                            files.setdefault(day, []).append(relative)
        except OSError as error:
            raise SourceError(f"fitbit_export: cannot list {folder}: {error}") from error

    def frozen(pattern: re.Pattern[str]) -> dict[date, tuple[Path, ...]]:
        return {day: tuple(sorted(paths)) for day, paths in sorted(kinds[pattern].items())}

    return ExportIndex(
        root=root,
        heart_rate_json=frozen(HEART_RATE_JSON_NAME),
        heart_rate_csv=frozen(HEART_RATE_CSV_NAME),
        resting_heart_rate=frozen(RESTING_HEART_RATE_NAME),
        heart_rate_zones=frozen(HEART_RATE_ZONES_NAME),
    )


@dataclass(frozen=True)
class _Settings:
    root: Path
    user_zone: ZoneInfo
    export_zone: ZoneInfo


@dataclass
class _Readings:
    """Heart-rate records as found, one position per record, before they are placed in time."""

    refs: list[str]
    stamps: list[Any]  # timestamp as found
    parseable: list[str | None]  # the timestamp text to parse; None when the record cannot be placed
    values: list[Any]
    confidences: list[Any]  # _ABSENT when the record has none

    @classmethod
    def empty(cls) -> _Readings:
        return cls([], [], [], [], [])

    def add(self, ref: str, stamp: Any, parseable: str | None, value: Any, confidence: Any) -> None:
        self.refs.append(ref)
        self.stamps.append(stamp)
        self.parseable.append(parseable)
        self.values.append(value)
        self.confidences.append(confidence)


class FitbitExportSource:
    """Heart rate from a folder unpacked from a Fitbit export or a Google Takeout."""

    kind: str = KIND

    def __init__(self) -> None:
        self._indexes: dict[Path, ExportIndex] = {}

    def index(self, user: UserProfile) -> ExportIndex:
        """The (cached) index of the user's export folder."""
        root = _settings(user).root
        if root not in self._indexes:
            self._indexes[root] = discover(root)
        return self._indexes[root]

    def available_dates(self, user: UserProfile) -> DateRange | None:
        """Local dates overlapping the first and last heart-rate file days; None without such files.

        Exact from file names: the local date of the first file day's first instant and of the
        last file day's last instant (``user.timezone``).
        """
        settings = _settings(user)
        index = self.index(user)
        firsts: list[date] = []
        lasts: list[date] = []
        for files, zone in (
            (index.heart_rate_json, settings.export_zone),
            (index.heart_rate_csv, ZoneInfo(UTC)),
        ):
            if files:
                first_start = datetime.combine(min(files), time(), zone)
                last_end = datetime.combine(max(files) + timedelta(days=1), time(), zone)
                firsts.append(first_start.astimezone(settings.user_zone).date())
                lasts.append((last_end - timedelta(microseconds=1)).astimezone(settings.user_zone).date())
        if not firsts:
            return None
        return DateRange(first=min(firsts), last=max(lasts))

    def fetch_day(self, user: UserProfile, day: date, *, only: PayloadKind | None = None) -> DayPayloads:
        """The user's local ``day`` as Fitbit Web API payloads; an empty day when no file covers it.

        With ``only``, the files of the other payload are not read.
        """
        settings = _settings(user)
        index = self.index(user)
        intraday, intraday_files, refs = _intraday(index, settings, day) if only != "summary" else (b"", [], ())
        summary, summary_files = _summary(index, day) if only != "intraday" else (b"", [])
        origin = ",".join(intraday_files + summary_files)
        return DayPayloads(intraday=intraday, summary=summary, origin=origin, intraday_refs=refs)


def _intraday(index: ExportIndex, settings: _Settings, day: date) -> tuple[bytes, list[str], tuple[str, ...]]:
    """The intraday payload of local ``day`` from the heart-rate files that cover it, those files, and
    where each of the payload's records stands in them."""
    read: list[str] = []
    frames: list[pl.DataFrame] = []
    readings = _Readings.empty()
    for files, zone, reader, fmt in (
        (index.heart_rate_json, settings.export_zone, _read_legacy_json, LEGACY_TIMESTAMP_FORMAT),
        (index.heart_rate_csv, ZoneInfo(UTC), _read_csv, CSV_TIMESTAMP_FORMAT),
    ):
        for file_day in _file_days(day, settings.user_zone, zone):
            for relative in files.get(file_day, ()):
                first = len(readings.refs)
                reader(index.root, relative, readings)
                read.append(relative.as_posix())
                stamps = readings.parseable[first:]
                frames.append(_place(stamps, first, fmt, file_day, zone, settings.user_zone))
    dataset, rows = _dataset(readings, frames, day, settings.user_zone)
    intraday = {"activities-heart-intraday": {"dataset": dataset, "datasetInterval": 1, "datasetType": "second"}}
    return _encode(intraday), read, tuple(readings.refs[row] for row in rows)


def _summary(index: ExportIndex, day: date) -> tuple[bytes, list[str]]:
    """The summary payload of ``day`` from the resting heart rate and zone files, and those files."""
    resting, resting_files = _resting_heart_rate(index, day)
    zones, custom, zone_files = _zones(index, day)
    summary_value: dict[str, Any] = {"customHeartRateZones": custom, "heartRateZones": zones}
    if resting is not None:
        summary_value["restingHeartRate"] = resting
    summary = {"activities-heart": [{"dateTime": day.isoformat(), "value": summary_value}]}
    return _encode(summary), resting_files + zone_files


def _settings(user: UserProfile) -> _Settings:
    config = user.source_config
    unknown = sorted(set(config) - CONFIG_KEYS)
    if unknown:
        raise SourceError(f"fitbit_export user {user.user_id}: unknown source_config keys {unknown}")
    raw_path = config.get("path")
    if not isinstance(raw_path, str) or not raw_path:
        raise SourceError(f"fitbit_export user {user.user_id}: source_config needs 'path' (export folder)")
    root = Path(raw_path)
    if not root.is_absolute():
        raise SourceError(f"fitbit_export user {user.user_id}: path {raw_path!r} must be absolute")
    if not root.is_dir():
        raise SourceError(f"fitbit_export user {user.user_id}: export folder {raw_path} does not exist")
    return _Settings(
        root=root,
        user_zone=_zone(user.timezone, f"user {user.user_id} timezone"),
        export_zone=_zone(config.get("export_timezone") or DEFAULT_EXPORT_TIMEZONE, "export_timezone"),
    )


def _zone(name: Any, what: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as error:
        raise SourceError(f"fitbit_export: {what} {name!r} is not an IANA time zone") from error


def _file_days(day: date, user_zone: ZoneInfo, file_zone: ZoneInfo) -> list[date]:
    """File days (dates in ``file_zone``) overlapping the local day's [midnight, next midnight)."""
    start = datetime.combine(day, time(), user_zone).astimezone(file_zone)
    end = datetime.combine(day + timedelta(days=1), time(), user_zone).astimezone(file_zone)
    last = (end - timedelta(microseconds=1)).date()
    return [start.date() + timedelta(days=n) for n in range((last - start.date()).days + 1)]


def _home_day(file_day: date, file_zone: ZoneInfo, user_zone: ZoneInfo) -> date:
    """The one local day that gets a file's unplaceable records: it always reads that file."""
    return datetime.combine(file_day, time(12), file_zone).astimezone(user_zone).date()


def _place(
    stamps: Sequence[str | None], first: int, fmt: str, file_day: date, zone: ZoneInfo, user_zone: ZoneInfo
) -> pl.DataFrame:
    """Rows ``first..`` of the day's readings with their instant (null when they cannot be placed)."""
    naive = pl.col("stamp").str.to_datetime(fmt, strict=False, time_unit="us")
    earliest = naive.dt.replace_time_zone(zone.key, ambiguous="earliest", non_existent="null")
    latest = naive.dt.replace_time_zone(zone.key, ambiguous="latest", non_existent="null")
    repeated = earliest != latest
    # In a repeated (fall-back) hour, the first step back in time starts the second pass.
    seen = pl.when(repeated).then(naive).cum_max().forward_fill().shift(1)
    second_pass = (repeated & (naive < seen)).fill_null(False).cum_max()
    instant = (
        pl.when(naive.dt.date() != file_day)
        .then(None)
        .when(repeated & second_pass)
        .then(latest)
        .otherwise(earliest)
        .dt.convert_time_zone(UTC)
    )
    frame = pl.DataFrame({"stamp": list(stamps)}, schema={"stamp": pl.String})
    return frame.select(
        pl.int_range(first, first + len(stamps), dtype=pl.Int64).alias("row"),
        instant.alias("instant"),
        pl.lit(_home_day(file_day, zone, user_zone), dtype=pl.Date).alias("home"),
    )


def _dataset(
    readings: _Readings, frames: list[pl.DataFrame], day: date, user_zone: ZoneInfo
) -> tuple[list[Any], list[int]]:
    """The day's dataset, and the row of ``readings`` each of its records came from."""
    if not frames:
        return [], []
    rows = pl.concat(frames).with_columns(local=pl.col("instant").dt.convert_time_zone(user_zone.key))
    placed = (
        rows.filter(pl.col("local").dt.date() == day)
        .sort("instant", maintain_order=True)
        .select("row", pl.col("local").dt.strftime("%H:%M:%S").alias("time"))
    )
    unplaced = rows.filter(pl.col("instant").is_null() & (pl.col("home") == day)).get_column("row").to_list()
    placed_rows = placed.get_column("row").to_list()
    dataset = [_entry(readings, row, clock) for row, clock in placed.iter_rows()]
    for row in unplaced:
        stamp = readings.stamps[row]
        shown = stamp if isinstance(stamp, str) and not _WALL_CLOCK.fullmatch(stamp.strip()) else None
        dataset.append(_entry(readings, row, shown, unplaced=True))
    return dataset, placed_rows + unplaced


def _entry(readings: _Readings, row: int, clock: str | None, unplaced: bool = False) -> dict[str, Any]:
    value = readings.values[row]
    confidence = readings.confidences[row]
    entry: dict[str, Any] = {"time": clock, "value": value}
    if confidence is not _ABSENT:
        entry["confidence"] = confidence
    if unplaced or not _is_int(value) or not (confidence is _ABSENT or _is_int(confidence)):
        entry["raw"] = readings.refs[row]
    return entry


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _integral(value: Any) -> Any:
    """``value`` as an int when it is an integral JSON number, else unchanged."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _read_bytes(root: Path, relative: Path) -> bytes:
    try:
        data = (root / relative).read_bytes()
    except OSError as error:
        raise SourceError(f"fitbit_export: cannot read {relative.as_posix()}: {error}") from error
    if not data.strip():
        raise SourceError(f"fitbit_export: {relative.as_posix()} is empty")
    return data


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{text} is out of range")
    return number


def _load_json_array(root: Path, relative: Path) -> list[Any]:
    data = _read_bytes(root, relative)
    name = relative.as_posix()
    try:
        loaded = json.loads(data, parse_constant=_reject_constant, parse_float=_finite_float)
    except json.JSONDecodeError as error:
        where = f"line {error.lineno}, column {error.colno}"
        raise SourceError(f"fitbit_export: {name} is not valid JSON ({where}: {error.msg})") from error
    except (ValueError, UnicodeDecodeError) as error:
        raise SourceError(f"fitbit_export: {name} is not valid JSON ({error})") from error
    if not isinstance(loaded, list):
        raise SourceError(f"fitbit_export: {name} should hold a JSON array, found {type(loaded).__name__}")
    return loaded


def _read_legacy_json(root: Path, relative: Path, readings: _Readings) -> None:
    name = relative.as_posix()
    for position, record in enumerate(_load_json_array(root, relative)):
        ref = f"{name}[{position}]"
        body = record.get("value") if isinstance(record, dict) else None
        stamp = record.get("dateTime") if isinstance(record, dict) else None
        if isinstance(body, dict):
            # A timestamp is ASCII; anything else cannot parse (and polars cannot hold a lone surrogate).
            parseable = stamp if isinstance(stamp, str) and stamp.isascii() else None
            bpm, confidence = _integral(body.get("bpm")), _integral(body.get("confidence", _ABSENT))
            readings.add(ref, stamp, parseable, bpm, confidence)
        else:
            readings.add(ref, stamp, None, record, _ABSENT)


def _read_csv(root: Path, relative: Path, readings: _Readings) -> None:
    data = _read_bytes(root, relative)
    name = relative.as_posix()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise SourceError(f"fitbit_export: {name} is not UTF-8 text ({error})") from error
    header = tuple(next(csv.reader([text.splitlines()[0]]), []))
    if header not in CSV_HEADERS:
        expected = " or ".join(repr(",".join(columns)) for columns in CSV_HEADERS)
        found = ",".join(header)
        raise SourceError(f"fitbit_export: {name}: header {found!r} is not the expected {expected}")
    try:
        frame = pl.read_csv(data, has_header=True, schema=dict.fromkeys(header, pl.String), try_parse_dates=False)
    except pl.exceptions.PolarsError as error:
        raise SourceError(f"fitbit_export: {name} cannot be read as CSV: {error}") from error
    lines = text.count("\n") + (0 if text.endswith("\n") else 1)
    if frame.height != lines - 1:
        raise SourceError(f"fitbit_export: {name} has a field spanning lines; line numbers would be wrong")
    frame = frame.with_row_index("line", offset=2).filter(~pl.all_horizontal(pl.col(header).is_null()))
    for line, stamp, bpm in frame.select("line", CSV_TIMESTAMP, CSV_BPM).iter_rows():
        value: Any = bpm
        if bpm is not None and _INTEGRAL_TEXT.fullmatch(bpm):
            # More digits than Python converts (4300) is no heart rate: kept as the text it is.
            with contextlib.suppress(ValueError):
                value = int(bpm.split(".")[0])
        readings.add(f"{name}:{line}", stamp, stamp, value, _ABSENT)


def _daily_files(files: Mapping[date, tuple[Path, ...]], day: date) -> tuple[Path, ...]:
    """The files named after the latest date <= ``day``: those that would hold ``day``."""
    candidates = [file_day for file_day in files if file_day <= day]
    return files[max(candidates)] if candidates else ()


def _daily_records(
    index: ExportIndex,
    files: Mapping[date, tuple[Path, ...]],
    day: date,
    record_date: Callable[[Any], date],
) -> tuple[list[tuple[str, Any]], list[str]]:
    """(reference, record) of every record for ``day`` in the daily files that hold it, and the files."""
    found: list[tuple[str, Any]] = []
    read: list[str] = []
    for relative in _daily_files(files, day):
        name = relative.as_posix()
        read.append(name)
        for position, record in enumerate(_load_json_array(index.root, relative)):
            ref = f"{name}[{position}]"
            try:
                applies_to = record_date(record)
            except (AttributeError, KeyError, TypeError, ValueError) as error:
                raise SourceError(f"fitbit_export: {ref}: unreadable date ({error!r})") from None
            if applies_to == day:
                found.append((ref, record))
    return found, read


def _agreed(day: date, what: str, values: Iterable[tuple[str, Any]]) -> Any:
    """The one value all records give for ``day``; SourceError when they disagree."""
    distinct = dict(values)
    if len({json.dumps(value, sort_keys=True) for value in distinct.values()}) > 1:
        raise SourceError(f"fitbit_export: conflicting {what} for {day}: {distinct}")
    return next(iter(distinct.values()), None)


def _round(ref: str, what: str, number: Any) -> int:
    if not isinstance(number, int | float) or isinstance(number, bool):
        raise SourceError(f"fitbit_export: {ref}: {what} {number!r} is not a number")
    return math.floor(number + 0.5)


def _resting_heart_rate(index: ExportIndex, day: date) -> tuple[int | None, list[str]]:
    records, read = _daily_records(
        index,
        index.resting_heart_rate,
        day,
        lambda record: datetime.strptime(record["value"]["date"], LEGACY_DATE_FORMAT).date(),
    )
    # 0 is Fitbit's "no estimate".
    what = "resting heart rate"
    values = [(ref, _round(ref, what, record["value"].get("value"))) for ref, record in records]
    resting = _agreed(day, what, values)
    return (resting or None), read


def _zones(index: ExportIndex, day: date) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[str]]:
    records, read = _daily_records(
        index,
        index.heart_rate_zones,
        day,
        lambda record: datetime.strptime(record["dateTime"], LEGACY_TIMESTAMP_FORMAT).date(),
    )
    minutes_by_record: list[tuple[str, dict[str, int]]] = []
    for ref, record in records:
        body = record.get("value") if isinstance(record, dict) else None
        in_zones = body.get("valuesInZones") if isinstance(body, dict) else None
        if not isinstance(in_zones, dict):
            raise SourceError(f"fitbit_export: {ref}: no valuesInZones object")
        minutes_by_record.append((ref, {key: _round(ref, key, value) for key, value in in_zones.items()}))
    minutes: dict[str, int] = _agreed(day, "heart-rate zones", minutes_by_record) or {}
    zones = [{"name": name, "minutes": minutes[key]} for key, name in ZONE_NAMES.items() if key in minutes]
    custom = [{"name": key, "minutes": count} for key, count in minutes.items() if key not in ZONE_NAMES]
    return zones, custom, read


def _encode(payload: Mapping[str, Any]) -> bytes:
    # ASCII, escapes included: a lone surrogate read from a file must reach the loader (which
    # quarantines its record), and UTF-8 cannot carry it.
    return json.dumps(payload, separators=_JSON_SEPARATORS, allow_nan=False).encode()
