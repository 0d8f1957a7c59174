"""Properties of the ``fitbit_export`` source's parsers over export folders hypothesis makes.

Heart-rate files (legacy JSON arrays, Takeout CSV) that can be read are passed on record for
record: over the local days that read a file, every record of it appears exactly once, placed at
its local time or carried with its ``file:line`` reference, and the loader's parser accounts for
each. Files that cannot be read raise ``SourceError``; nothing else escapes. Expected placements
are computed here with ``zoneinfo`` from the instants the test writes.

Example counts are the EXAMPLES constants; the README's Reliability section lists them.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from hr_assets.domain.transform import parse_intraday, parse_summary
from hr_assets.sources.base import SourceError, UserProfile
from hr_assets.sources.fitbit_export import FitbitExportSource
from hr_assets_tests.unit.test_transform_properties import examples

# The loader's reason for zone minutes that are not a non-negative number (transform's zone checks).
ZONE_MINUTES_REFUSED = re.compile(
    r"(customHeartRateZones|heartRateZones)\[\d+\]: 'minutes' is not a non-negative number"
)
HEART_RATE_EXAMPLES = 200
RAW_FILE_EXAMPLES = 150
SUMMARY_FILE_EXAMPLES = 150

ZONES = ["UTC", "America/New_York", "Europe/Berlin", "Asia/Tokyo", "Australia/Lord_Howe"]
# File days around New York's fall-back, Berlin's spring-forward, and an ordinary day.
FIRST_FILE_DAYS = [date(2024, 11, 2), date(2024, 3, 30), date(2024, 6, 10)]
LEGACY_STAMP = "%m/%d/%y %H:%M:%S"
CSV_HEADERS = ["timestamp,beats per minute,data source", "timestamp,beats per minute"]
# The module docstring's "integral numbers": 65 and 65.0 are 65; Python converts up to 4300 digits.
INTEGRAL_TEXT = re.compile(r"-?[0-9]+(\.0+)?")
PYTHON_INT_DIGITS = 4300


@dataclass
class Export:
    """An export folder's heart-rate files, and what the test knows about each record written."""

    legacy: dict[date, list[Any]] = field(default_factory=dict)  # file day -> JSON array
    csv: dict[date, list[str]] = field(default_factory=dict)  # file day -> lines after the header
    csv_header: str = CSV_HEADERS[0]
    records: int = 0  # readings the files hold
    placed: list[tuple[datetime, int]] = field(default_factory=list)  # (UTC instant, bpm) of well-formed ones

    def write(self, root: Path) -> None:
        for day, records in self.legacy.items():
            folder = root / "Global Export Data"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"heart_rate-{day.isoformat()}.json").write_text(json.dumps(records))
        for day, lines in self.csv.items():
            folder = root / "Physical Activity_GoogleData"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"heart_rate_{day.isoformat()}.csv").write_text("\n".join([self.csv_header, *lines]) + "\n")


# JSON as a file holds it: no NaN or Infinity (the source refuses those files), odd text included.
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
    | st.sampled_from(["\ud800", "\x00", "12:00:00", "06/10/24 25:00:00"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)
csv_cells = st.from_regex(r"[0-9A-Za-z .:+-]{0,12}", fullmatch=True)
bpm_texts = st.one_of(
    st.integers(-5, 300).map(str),
    st.integers(30, 200).map("{}.0".format),
    st.sampled_from(["", "abc", "64.5", "1e2", "-0", "9" * 5000, "6" * 30]),
    csv_cells,
)


@st.composite
def exports(draw: st.DrawFn) -> Export:
    """Heart-rate files for one or two file days (UTC): mostly good readings, some of every bad kind."""
    export = Export(csv_header=draw(st.sampled_from(CSV_HEADERS)))
    first = draw(st.sampled_from(FIRST_FILE_DAYS))
    days = [first + timedelta(days=n) for n in range(draw(st.integers(1, 2)))]
    for day in days:
        if draw(st.booleans()):
            export.legacy[day] = [draw(_legacy_record(export, day)) for _ in range(draw(st.integers(0, 12)))]
        if draw(st.booleans()):
            export.csv[day] = [draw(_csv_line(export, day)) for _ in range(draw(st.integers(0, 12)))]
    return export


def _instant(draw: st.DrawFn, day: date) -> datetime:
    # Every 20 minutes of the file day, so that repeats happen and DST hours are met.
    return datetime.combine(day, time(), UTC) + timedelta(minutes=20 * draw(st.integers(0, 71)))


@st.composite
def _legacy_record(draw: st.DrawFn, export: Export, day: date) -> Any:
    export.records += 1
    kind = draw(st.integers(0, 9))
    instant = _instant(draw, day)
    if kind < 6:  # well formed
        bpm = draw(st.integers(-5, 300) | st.integers(30, 200).map(float))
        body: dict[str, Any] = {"bpm": bpm}
        if draw(st.booleans()):
            body["confidence"] = draw(st.integers(0, 3))
        export.placed.append((instant, int(bpm)))
        return {"dateTime": instant.strftime(LEGACY_STAMP), "value": body}
    if kind == 6:  # a bpm or confidence that is not an integer
        return {"dateTime": instant.strftime(LEGACY_STAMP), "value": {"bpm": draw(json_values), "confidence": 1.5}}
    if kind == 7:  # outside its file's day, or a timestamp that does not parse
        stamp = draw(st.sampled_from([(instant + timedelta(days=1)).strftime(LEGACY_STAMP), "1:00 PM"]) | json_values)
        return {"dateTime": stamp, "value": {"bpm": 60}}
    return draw(json_values)  # not a record at all


@st.composite
def _csv_line(draw: st.DrawFn, export: Export, day: date) -> str:
    kind = draw(st.integers(0, 9))
    instant = _instant(draw, day)
    source = draw(st.sampled_from(["Pixel Watch", ""])) if export.csv_header == CSV_HEADERS[0] else None
    if kind < 6:
        bpm = draw(st.integers(-5, 300))
        fraction = draw(st.sampled_from(["", ".250"]))
        cells = [instant.strftime("%Y-%m-%dT%H:%M:%S") + fraction + "Z", draw(st.sampled_from([f"{bpm}", f"{bpm}.0"]))]
        export.placed.append((instant, bpm))
    elif kind < 8:  # any bpm text: an integer written as one (or with a zero fraction) is one
        text = draw(bpm_texts)
        cells = [instant.strftime("%Y-%m-%dT%H:%M:%SZ"), text]
        if INTEGRAL_TEXT.fullmatch(text) and len(text) <= PYTHON_INT_DIGITS:
            export.placed.append((instant, int(text.split(".")[0])))
    else:
        cells = [draw(csv_cells), draw(bpm_texts)]
    line = ",".join(cells + ([source] if source is not None else []))
    if any([*cells, source or ""]):
        export.records += 1  # a line without any value carries no reading
    return line


def _local_days(export: Export, user_zone: ZoneInfo) -> list[date]:
    """Every local day that overlaps a file day (the files are in UTC)."""
    found: set[date] = set()
    for day in [*export.legacy, *export.csv]:
        start = datetime.combine(day, time(), UTC)
        found.add(start.astimezone(user_zone).date())
        found.add((start + timedelta(days=1, microseconds=-1)).astimezone(user_zone).date())
    return sorted({first + timedelta(days=n) for first in found for n in range(-1, 2)})


@examples(HEART_RATE_EXAMPLES)
@given(exports(), st.sampled_from(ZONES))
def test_every_record_of_a_readable_file_is_passed_on_exactly_once(export: Export, timezone: str) -> None:
    user_zone = ZoneInfo(timezone)
    with tempfile.TemporaryDirectory() as folder:
        export.write(Path(folder))
        profile = UserProfile("u1", timezone, "fitbit_export", source_config={"path": folder})
        source = FitbitExportSource()
        entries: list[tuple[date, dict[str, Any]]] = []
        for day in _local_days(export, user_zone):
            payload = source.fetch_day(profile, day, only="intraday").intraday
            dataset = json.loads(payload)["activities-heart-intraday"]["dataset"]
            parsed = parse_intraday(payload, user_id="u1", day=day, timezone=timezone)
            assert parsed.readings.height + parsed.quarantined.height == len(dataset)
            entries += [(day, entry) for entry in dataset]

    assert len(entries) == export.records
    references = [entry["raw"] for _, entry in entries if "raw" in entry]
    assert len(set(references)) == len(references)
    # The well-formed readings, at the local day and wall-clock time of their instant, unchanged.
    expected = Counter(
        (instant.astimezone(user_zone).date(), instant.astimezone(user_zone).strftime("%H:%M:%S"), bpm)
        for instant, bpm in export.placed
    )
    placed = Counter((day, entry["time"], entry["value"]) for day, entry in entries if "raw" not in entry)
    assert placed == expected


@examples(RAW_FILE_EXAMPLES)
@given(
    st.sampled_from(["Global Export Data/heart_rate-2024-06-10.json", "Takeout/heart_rate_2024-06-10.csv"]),
    st.binary(max_size=300)
    | st.sampled_from(CSV_HEADERS)
    .flatmap(lambda header: st.text(max_size=200).map(f"{header}\n".__add__))
    .map(str.encode),
    st.sampled_from(ZONES),
)
def test_an_unreadable_heart_rate_file_raises_source_error_and_nothing_else(
    name: str, content: bytes, timezone: str
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / name).parent.mkdir(parents=True)
        (Path(folder) / name).write_bytes(content)
        profile = UserProfile("u1", timezone, "fitbit_export", source_config={"path": folder})
        for day in (date(2024, 6, 9), date(2024, 6, 10), date(2024, 6, 11)):
            try:
                payload = FitbitExportSource().fetch_day(profile, day, only="intraday").intraday
            except SourceError as error:
                assert name.rsplit("/", 1)[-1] in str(error)
                continue
            # What the source passes on, the loader can read: no payload is refused whole.
            parse_intraday(payload, user_id="u1", day=day, timezone=timezone)


@st.composite
def daily_records(draw: st.DrawFn, kind: str, first: date) -> list[Any]:
    """A resting heart rate or zones file named after ``first``: records for it and the next days."""
    records: list[Any] = []
    for _ in range(draw(st.integers(0, 5))):
        day = first + timedelta(days=draw(st.integers(0, 2)))
        stamp = draw(st.sampled_from([day.strftime("%m/%d/%y"), day.strftime("%m/%d/%y")]) | json_values)
        number = draw(st.floats(0, 200) | st.integers(0, 200) | json_values)
        if kind == "resting":
            records.append({"dateTime": f"{stamp} 00:00:00", "value": {"date": stamp, "value": number, "error": 1}})
        else:
            keys = st.sampled_from(["IN_DEFAULT_ZONE_1", "BELOW_DEFAULT_ZONE_1", "X"])
            minutes = draw(st.dictionaries(keys, st.just(number)))
            records.append({"dateTime": f"{stamp} 00:00:00", "value": {"valuesInZones": minutes}})
        if draw(st.integers(0, 9)) == 0:
            records[-1] = draw(json_values)
    return records


@examples(SUMMARY_FILE_EXAMPLES)
@given(st.data())
def test_summary_files_give_a_summary_the_loader_reads_or_raise_source_error(data: st.DataObject) -> None:
    first = date(2024, 6, 1)
    resting = data.draw(daily_records("resting", first))
    zones = data.draw(daily_records("zones", first))
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / f"resting_heart_rate-{first}.json").write_text(json.dumps(resting))
        (Path(folder) / f"time_in_heart_rate_zones-{first}.json").write_text(json.dumps(zones))
        profile = UserProfile("u1", "UTC", "fitbit_export", source_config={"path": folder})
        for day in (first, first + timedelta(days=1), first + timedelta(days=2)):
            try:
                payload = FitbitExportSource().fetch_day(profile, day, only="summary").summary
            except SourceError as error:
                assert "heart_rate" in str(error) and "fitbit_export" in str(error)
                continue
            parsed = parse_summary(payload, user_id="u1", day=day)
            # Every zone key of the day's record is kept (unknown ones as custom zones); only an
            # impossible resting heart rate and zone minutes that are not a non-negative number (json_values
            # draws such as -1), both passed on as found, are for the loader to refuse.
            assert all(
                r.startswith("impossible restingHeartRate") or ZONE_MINUTES_REFUSED.match(r)
                for r in parsed.quarantined["reason"]
            ), parsed.quarantined
            held = {zone["name"] for zone in parsed.heart_rate_zones + parsed.custom_heart_rate_zones}
            assert len(held) == len(parsed.heart_rate_zones) + len(parsed.custom_heart_rate_zones)
