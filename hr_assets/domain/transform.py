"""Fitbit-shaped JSON payloads into typed polars frames, plus the records that were refused.

Decisions per kind of bad input (the README lists them too):

* a payload that is not JSON, is empty, lacks its top-level keys, or is for another date is
  refused whole with :class:`PayloadError` (nothing of it can be trusted);
* inside a good payload, a bad *record* goes to quarantine with the reason and the good
  records around it are kept: a record that is not an object, a missing or non-string
  ``time``, a time that is not ``HH:MM:SS``, a ``value`` that is not an integer, an
  impossible bpm (outside 1..250), a ``confidence`` that is not a smallint integer, a local
  time that does not exist (the hour skipped by a spring-forward), and every repeat of a
  timestamp already seen that day.

Local wall-clock times become UTC with the user's IANA time zone. A time that occurs twice
(the repeated hour of a fall-back) is resolved by its order in the dataset: before the
clock goes back it is the first occurrence, after it the second.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, TypeGuard

import polars as pl

# Defined at the bottom layer (the warehouse writes and returns them); re-exported as the parser's own.
from hr_assets.warehouse.parsed import ParsedIntraday as ParsedIntraday
from hr_assets.warehouse.parsed import ParsedSummary as ParsedSummary
from hr_assets.warehouse.user_day import local_day_window as local_day_window
from hr_assets.warehouse.user_day import zone as zone

# Physiologically impossible readings, refused by the parser. (The plausibility check
# warns on a narrower band; see quality.py.)
MIN_POSSIBLE_BPM = 1
MAX_POSSIBLE_BPM = 250
# A wall-clock time of the day, exactly HH:MM:SS (00:00:00 to 23:59:59, ASCII digits).
CLOCK = "(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
_CLOCK_RE = re.compile(CLOCK)
# The confidence column is a smallint.
MIN_CONFIDENCE, MAX_CONFIDENCE = -(2**15), 2**15 - 1

INTRADAY_SCHEMA: dict[str, pl.DataType] = {
    "user_id": pl.String(),
    "time": pl.Datetime("us", "UTC"),
    "bpm": pl.Int16(),
    "confidence": pl.Int16(),
}
QUARANTINE_SCHEMA: dict[str, pl.DataType] = {"record": pl.String(), "reason": pl.String()}


class PayloadError(ValueError):
    """A payload that cannot be loaded at all; the message says where and why."""


def _load_json(payload: bytes, where: str) -> Any:
    if not payload.strip():
        raise PayloadError(f"{where}: empty payload")
    try:
        return json.loads(payload)
    except RecursionError:
        raise PayloadError(f"{where}: not valid JSON (nested too deeply to read)") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, an integer of more than 4300 digits
        raise PayloadError(f"{where}: not valid JSON ({exc})") from exc


def _check_date(document: dict[str, Any], day: date, where: str) -> None:
    """Refuse a payload whose own ``activities-heart`` date is not the requested day."""
    entries = document.get("activities-heart")
    if not entries:
        return
    stated = entries[0].get("dateTime") if isinstance(entries, list) and isinstance(entries[0], dict) else None
    if stated is not None and stated != day.isoformat():
        raise PayloadError(f"{where}: payload is for {stated!r}, but {day.isoformat()} was requested")


def _quarantine_frame(rows: list[tuple[str, str]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=QUARANTINE_SCHEMA, orient="row")


def _is_int(value: Any) -> TypeGuard[int]:
    return type(value) is int  # bool is an int subclass; True is not a heart rate


def parse_intraday(
    payload: bytes, *, user_id: str, day: date, timezone: str, where: str = "", refs: Sequence[str] = ()
) -> ParsedIntraday:
    """Parse an ``activities-heart-intraday`` payload for ``user_id``'s local ``day``.

    ``refs``, where the source gives them, say where each dataset record stands in its source file;
    a quarantined record's reason then names it ("record 240 (heart_rate-2026-11-21.json[600]): ...").
    """
    where = where or f"intraday {user_id} {day.isoformat()}"
    regular = _read_regular(payload)
    document = regular.document if regular else _load_json(payload, where)
    if not isinstance(document, dict) or not isinstance(document.get("activities-heart-intraday"), dict):
        raise PayloadError(f"{where}: missing object 'activities-heart-intraday'")
    _check_date(document, day, where)
    records: list[Any] | _Regular
    rejected: list[tuple[str, str]]
    if regular:
        records, frame, rejected = regular, regular.frame, []
    else:
        records = document["activities-heart-intraday"].get("dataset")
        if not isinstance(records, list):
            raise PayloadError(f"{where}: 'activities-heart-intraday.dataset' must be a list")
        frame, rejected = _records(records, refs)
    window_start, window_end = local_day_window(day, timezone)

    readings, unplaced = _to_utc(frame, user_id=user_id, day=day, timezone=timezone)
    rejected += [
        (json.dumps(records[index]), f"{_record_label(index, refs)}: {reason}")
        for index, reason in unplaced.iter_rows()
    ]
    return ParsedIntraday(readings, _quarantine_frame(rejected), window_start, window_end)


def _record_label(index: int, refs: Sequence[str]) -> str:
    """How a quarantine reason names a dataset record: its index, and its place in the source file if known."""
    return f"record {index} ({refs[index]})" if index < len(refs) else f"record {index}"


def _records(dataset: list[Any], refs: Sequence[str] = ()) -> tuple[pl.DataFrame, list[tuple[str, str]]]:
    """The good records as columns (with their index in the dataset), and each bad one with its reason."""
    rejected: list[tuple[str, str]] = []
    good: list[dict[str, Any]] = []
    good_index: list[int] = []
    for index, record in enumerate(dataset):
        reason = _record_problem(record)
        if reason is None:
            good.append(record)
            good_index.append(index)
        else:
            rejected.append((json.dumps(record), f"{_record_label(index, refs)}: {reason}"))
    frame = pl.DataFrame(
        {
            "index": good_index,
            "clock": [r["time"] for r in good],
            "bpm": [r["value"] for r in good],
            "confidence": [r.get("confidence") for r in good],
        },
        schema=_RECORD_SCHEMA,
        strict=False,
    )
    return frame, rejected


@dataclass(frozen=True)
class _Layout:
    """How a serialiser writes the dataset: where it opens, what separates two records, one record."""

    opening: bytes
    separator: str
    record: str  # a regex with groups time, value, confidence


def _layout(item: str, key: str) -> _Layout:
    clock = f"({CLOCK})"
    value = "([1-9][0-9]{0,2})"  # 1..999, no sign, exponent or leading zero; 251..999 are checked after
    confidence = "(0|[1-9][0-9]{0,3})"
    return _Layout(
        opening=f'"dataset"{key}[{{'.encode(),
        separator=f"}}{item}{{",
        record=f'^"time"{key}"{clock}"{item}"value"{key}{value}(?:{item}"confidence"{key}{confidence})?$',
    )


# Compact (the Fitbit Web API, the simulator, the export source) and json.dumps' default separators.
_LAYOUTS = (_layout(",", ":"), _layout(", ", ": "))
# Stands in for the dataset while json.loads parses the rest of a regular payload.
_PLACEHOLDER = "hr-pipeline: dataset read by polars"
_RECORD_SCHEMA: dict[str, pl.DataType] = {
    "index": pl.Int64(),
    "clock": pl.String(),
    "bpm": pl.Int64(),
    "confidence": pl.Int64(),
}


@dataclass(frozen=True)
class _Regular:
    document: dict[str, Any]  # the payload's document, with _PLACEHOLDER for the dataset
    frame: pl.DataFrame  # _RECORD_SCHEMA: every record of the dataset, in order

    def __getitem__(self, index: int) -> dict[str, Any]:
        """The record at ``index`` as json.loads gives it (keys in the order the layout requires)."""
        _, clock, bpm, confidence = self.frame.row(index)
        return {"time": clock, "value": bpm} | ({} if confidence is None else {"confidence": confidence})


def _read_regular(payload: bytes) -> _Regular | None:
    """The payload as a document and its dataset's columns when every record is regular; else None.

    A regular record is ``{"time":"HH:MM:SS","value":N}`` with an optional integer
    ``"confidence"``, in that order, without escapes, N in 1..250, as a serialiser writes it:
    each one passes :func:`_record_problem`. Such a dataset is cut out of the payload and read by
    polars (split into records, one regex each, without holding the GIL, so the writing thread
    keeps going: json.loads and a Python loop per record held it ~100 ms per dense day). The rest
    is parsed by json.loads with a placeholder in the cut's place. When the placeholder is the
    value of exactly one key in the whole document, and that is the final ``dataset`` of the final
    ``activities-heart-intraday`` object, the cut was that dataset and nothing else: json.loads of
    the whole payload gives the same document with these records. Anything else (another layout,
    a bad record, a doubt) returns None, and the caller takes the general path, which also gives
    the reasons for bad records.
    """
    for layout in _LAYOUTS:
        start = payload.find(layout.opening)
        if start >= 0:
            break
    else:
        return None
    end = payload.find(b"}]", start)  # a regular record holds no '}' or ']'
    if end < 0:
        return None
    body = payload[start + len(layout.opening) : end]
    if not body.isascii():
        return None
    document = _document_around(
        payload[:start] + b'"dataset":' + json.dumps(_PLACEHOLDER).encode() + payload[end + 2 :]
    )
    if document is None:
        return None
    fields = (
        pl.LazyFrame({"record": [body.decode("ascii")]})
        .select(pl.col("record").str.split(layout.separator))
        .explode("record")
        .select(pl.col("record").str.extract_groups(layout.record).struct.unnest())
        .collect()
    )
    clock, value, confidence = fields.get_columns()
    if clock.null_count():
        return None
    bpm = value.cast(pl.Int64)
    if not bpm.is_between(MIN_POSSIBLE_BPM, MAX_POSSIBLE_BPM).all():
        return None
    frame = pl.DataFrame(
        {
            "index": pl.int_range(fields.height, eager=True),
            "clock": clock,
            "bpm": bpm,
            "confidence": confidence.cast(pl.Int64),
        },
        schema=_RECORD_SCHEMA,
    )
    return _Regular(document, frame)


def _document_around(rest: bytes) -> dict[str, Any] | None:
    """``rest`` parsed, if its only _PLACEHOLDER value is the final ``activities-heart-intraday.dataset``."""
    pairs_seen: list[tuple[dict[str, Any], list[tuple[str, Any]]]] = []

    def keep(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        made = dict(pairs)
        pairs_seen.append((made, pairs))
        return made

    try:
        document = json.loads(rest, object_pairs_hook=keep)
    except (ValueError, RecursionError):
        return None
    holders = [
        made for made, pairs in pairs_seen for _, value in pairs if isinstance(value, str) and value == _PLACEHOLDER
    ]
    if not isinstance(document, dict):
        return None
    intraday = document.get("activities-heart-intraday")
    if len(holders) != 1 or holders[0] is not intraday or intraday.get("dataset") != _PLACEHOLDER:
        return None
    return document


def _record_problem(record: Any) -> str | None:
    if not isinstance(record, dict):
        return "not an object"
    clock, value = record.get("time"), record.get("value")
    if not isinstance(clock, str):
        return "missing 'time'" if clock is None else f"'time' is not a string: {clock!r}"
    if not _CLOCK_RE.fullmatch(clock):
        return f"time {clock!r} is not HH:MM:SS"
    if not _is_int(value):
        return "missing 'value'" if value is None else f"'value' is not an integer: {value!r}"
    if not MIN_POSSIBLE_BPM <= value <= MAX_POSSIBLE_BPM:
        return f"impossible bpm {value} (outside {MIN_POSSIBLE_BPM}..{MAX_POSSIBLE_BPM})"
    confidence = record.get("confidence")
    if confidence is not None and not _is_int(confidence):
        return f"'confidence' is not an integer: {confidence!r}"
    if confidence is not None and not MIN_CONFIDENCE <= confidence <= MAX_CONFIDENCE:
        return f"impossible confidence {confidence} (outside {MIN_CONFIDENCE}..{MAX_CONFIDENCE})"
    return None


def _to_utc(frame: pl.DataFrame, *, user_id: str, day: date, timezone: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Local ``HH:MM:SS`` clock times into UTC instants.

    Returns the readings and the (dataset index, reason) of each record that cannot be placed.
    """
    zone(timezone)  # a clear error for an unknown zone before polars raises its own
    if frame.is_empty():  # polars cannot broadcast the day literal over zero rows
        return pl.DataFrame(schema=INTRADAY_SCHEMA), pl.DataFrame(schema={"index": pl.Int64, "reason": pl.String})
    parsed = frame.with_columns(pl.col("clock").str.to_time("%H:%M:%S").alias("clock_time"))  # CLOCK, checked
    # The clock goes back only at a fall-back; readings after that point are the second
    # occurrence of the repeated hour.
    seconds = pl.col("clock_time").cast(pl.Int64)
    went_back = (seconds < seconds.shift(1)).fill_null(False).cast(pl.Int32).cum_sum() > 0
    parsed = parsed.with_columns(
        pl.lit(day)
        .dt.combine(pl.col("clock_time"))
        .dt.replace_time_zone(
            timezone,
            ambiguous=pl.when(went_back).then(pl.lit("latest")).otherwise(pl.lit("earliest")),
            non_existent="null",
        )
        .dt.convert_time_zone("UTC")
        .dt.cast_time_unit("us")
        .alias("time"),
    )
    skipped = parsed.filter(pl.col("time").is_null())
    placed = parsed.filter(pl.col("time").is_not_null())
    duplicate = placed.select(~pl.col("time").is_first_distinct()).to_series()  # a repeat of an earlier reading
    duplicates = placed.filter(duplicate)
    readings = (
        placed.filter(~duplicate)
        .sort("time")
        .select(
            pl.lit(user_id).alias("user_id"),
            "time",
            pl.col("bpm").cast(pl.Int16),
            pl.col("confidence").cast(pl.Int16),
        )
    )

    def refused(rows: pl.DataFrame, reason: pl.Expr) -> pl.DataFrame:
        return rows.select("index", reason.alias("reason"))

    rejected = pl.concat(
        [
            refused(
                skipped,
                pl.format(
                    "local time {} does not exist in {} on {} (clocks went forward)",
                    pl.col("clock"),
                    pl.lit(timezone),
                    pl.lit(day.isoformat()),
                ),
            ),
            refused(duplicates, pl.format("duplicate timestamp {} (first reading kept)", pl.col("clock"))),
        ]
    )
    return readings, rejected


def parse_summary(payload: bytes, *, user_id: str, day: date, where: str = "") -> ParsedSummary:
    """Parse an ``activities-heart`` daily summary payload for ``user_id``'s ``day``."""
    where = where or f"summary {user_id} {day.isoformat()}"
    document = _load_json(payload, where)
    entries = document.get("activities-heart") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise PayloadError(f"{where}: missing list 'activities-heart'")
    if not entries:
        empty = _quarantine_frame([])
        return ParsedSummary(user_id, day, None, [], [], empty)
    if len(entries) != 1 or not isinstance(entries[0], dict):
        raise PayloadError(f"{where}: 'activities-heart' must hold exactly one day, found {len(entries)} entries")
    _check_date(document, day, where)
    value = entries[0].get("value")
    if not isinstance(value, dict):
        raise PayloadError(f"{where}: 'activities-heart[0].value' must be an object")

    rejected: list[tuple[str, str]] = []
    resting = value.get("restingHeartRate")
    if resting is not None and not (_is_int(resting) and MIN_POSSIBLE_BPM <= resting <= MAX_POSSIBLE_BPM):
        rejected.append((json.dumps({"restingHeartRate": resting}), f"impossible restingHeartRate {resting!r}"))
        resting = None
    zones = _zones(value.get("heartRateZones", []), "heartRateZones", rejected)
    custom = _zones(value.get("customHeartRateZones", []), "customHeartRateZones", rejected)
    return ParsedSummary(user_id, day, resting, zones, custom, _quarantine_frame(rejected))


def _zones(zones: Any, key: str, rejected: list[tuple[str, str]]) -> list[dict[str, Any]]:
    if not isinstance(zones, list):
        rejected.append((json.dumps(zones), f"'{key}' is not a list"))
        return []
    kept: list[dict[str, Any]] = []
    for index, entry in enumerate(zones):
        problem = _zone_problem(entry)
        if problem is None:
            kept.append(entry)
        else:
            rejected.append((json.dumps(entry), f"{key}[{index}]: {problem}"))
    return kept


def _zone_problem(entry: Any) -> str | None:
    if not isinstance(entry, dict):
        return "not an object"
    if not isinstance(entry.get("name"), str):
        return "missing 'name'"
    for number in ("min", "max", "minutes", "caloriesOut"):
        found = entry.get(number)
        is_number = isinstance(found, int | float) and not isinstance(found, bool)
        if found is not None and not (is_number and math.isfinite(found) and found >= 0):
            return f"'{number}' is not a non-negative number: {found!r}"
    if not _jsonb_storable(entry):
        return "holds what PostgreSQL's jsonb cannot store (NaN, Infinity, a NUL character or a lone surrogate)"
    return None


def _jsonb_storable(value: Any) -> bool:
    """Whether jsonb can hold ``value``: no NaN or Infinity, no text (keys too) with NUL or a lone surrogate."""
    pending = [value]
    while pending:  # a stack, not recursion: a zone may be nested as deeply as json.loads allowed
        item = pending.pop()
        if isinstance(item, dict):
            pending += [*item.keys(), *item.values()]
        elif isinstance(item, list):
            pending += item
        elif not _storable_scalar(item):
            return False
    return True


def _storable_scalar(item: Any) -> bool:
    if isinstance(item, float):
        return math.isfinite(item)
    return not isinstance(item, str) or ("\x00" not in item and _encodable(item))


def _encodable(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True
