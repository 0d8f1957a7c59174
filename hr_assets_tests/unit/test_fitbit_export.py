"""The ``fitbit_export`` source on small export folders written into ``tmp_path``.

Expected values are computed here with ``zoneinfo`` from the UTC instants the test writes, not
with the source's own code.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from hr_assets.sources.base import DateRange, Source, SourceError, UserProfile
from hr_assets.sources.fitbit_export import FitbitExportSource, discover

LEGACY_DIR = Path("Takeout/Fitbit/Global Export Data")
CSV_DIR = Path("Takeout/Fitbit/Physical Activity_GoogleData")
CSV_HEADER = "timestamp,beats per minute,data source"

Reading = tuple[datetime, int]  # UTC instant, bpm


def user(root: Path, timezone: str, **config: Any) -> UserProfile:
    return UserProfile(
        user_id="u1", timezone=timezone, source="fitbit_export", source_config={"path": str(root), **config}
    )


def by_utc_day(readings: Iterable[Reading]) -> dict[date, list[Reading]]:
    days: dict[date, list[Reading]] = {}
    for instant, bpm in readings:
        days.setdefault(instant.date(), []).append((instant, bpm))
    return days


def write_legacy(root: Path, readings: Iterable[Reading]) -> None:
    """Legacy export files: one JSON array per UTC day, naive UTC timestamps."""
    folder = root / LEGACY_DIR
    folder.mkdir(parents=True, exist_ok=True)
    for day, rows in by_utc_day(readings).items():
        records = [
            {"dateTime": instant.strftime("%m/%d/%y %H:%M:%S"), "value": {"bpm": bpm, "confidence": 2}}
            for instant, bpm in rows
        ]
        (folder / f"heart_rate-{day.isoformat()}.json").write_text(json.dumps(records, indent=1))


def write_csv(root: Path, readings: Iterable[Reading]) -> None:
    """Takeout CSV files: one per UTC day, ``...Z`` timestamps, bpm written as decimals like Takeout."""
    folder = root / CSV_DIR
    folder.mkdir(parents=True, exist_ok=True)
    for day, rows in by_utc_day(readings).items():
        lines = [CSV_HEADER] + [
            f"{instant.strftime('%Y-%m-%dT%H:%M:%SZ')},{bpm}.0,Google Pixel Watch" for instant, bpm in rows
        ]
        (folder / f"heart_rate_{day.isoformat()}.csv").write_text("\n".join(lines) + "\n")


WRITERS = {"legacy_json": write_legacy, "csv": write_csv}


def every(start: datetime, end: datetime, step: timedelta) -> list[Reading]:
    """Readings from ``start`` (inclusive) to ``end`` (exclusive), each with a distinct bpm."""
    readings = []
    instant, n = start, 0
    while instant < end:
        readings.append((instant, 40 + n % 150))
        instant, n = instant + step, n + 1
    return readings


def expected(readings: Iterable[Reading], timezone: str, day: date) -> list[tuple[str, int]]:
    zone = ZoneInfo(timezone)
    local = [(instant.astimezone(zone), bpm) for instant, bpm in sorted(readings)]
    return [(when.strftime("%H:%M:%S"), bpm) for when, bpm in local if when.date() == day]


def fetch(source: FitbitExportSource, profile: UserProfile, day: date) -> tuple[Any, Any, str]:
    payloads = source.fetch_day(profile, day)
    return json.loads(payloads.intraday), json.loads(payloads.summary), payloads.origin


def dataset(source: FitbitExportSource, profile: UserProfile, day: date) -> list[dict[str, Any]]:
    intraday, _, _ = fetch(source, profile, day)
    rows: list[dict[str, Any]] = intraday["activities-heart-intraday"]["dataset"]
    return rows


def utc(year: int, month: int, day: int, hour: int, minute: int, second: int) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


# -- windowing a local day over UTC files --------------------------------------------------------


@pytest.mark.parametrize("fmt", sorted(WRITERS))
@pytest.mark.parametrize(
    ("timezone", "files"),
    [
        # PDT (UTC-7): 2024-06-10 local is 06-10 07:00Z .. 06-11 07:00Z.
        ("America/Los_Angeles", ["2024-06-10", "2024-06-11"]),
        # JST (UTC+9): 2024-06-10 local is 06-09 15:00Z .. 06-10 15:00Z.
        ("Asia/Tokyo", ["2024-06-09", "2024-06-10"]),
    ],
)
def test_local_day_reads_two_utc_files_and_keeps_its_own_readings(
    tmp_path: Path, fmt: str, timezone: str, files: list[str]
) -> None:
    readings = every(utc(2024, 6, 8, 0, 0, 0), utc(2024, 6, 13, 0, 0, 0), timedelta(minutes=7, seconds=13))
    WRITERS[fmt](tmp_path, readings)
    source = FitbitExportSource()
    day = date(2024, 6, 10)

    intraday, summary, origin = fetch(source, user(tmp_path, timezone), day)

    rows = intraday["activities-heart-intraday"]["dataset"]
    want = expected(readings, timezone, day)
    assert len(want) in (199, 200)  # a day of readings every 7 min 13 s
    assert [(row["time"], row["value"]) for row in rows] == want
    assert all("raw" not in row for row in rows)
    if fmt == "legacy_json":
        assert {row["confidence"] for row in rows} == {2}
    else:
        assert all("confidence" not in row for row in rows)
    assert intraday["activities-heart-intraday"]["datasetInterval"] == 1
    assert intraday["activities-heart-intraday"]["datasetType"] == "second"
    assert summary == {
        "activities-heart": [{"dateTime": "2024-06-10", "value": {"customHeartRateZones": [], "heartRateZones": []}}]
    }
    folder, pattern = {
        "legacy_json": (LEGACY_DIR, "heart_rate-{}.json"),
        "csv": (CSV_DIR, "heart_rate_{}.csv"),
    }[fmt]
    assert origin.split(",") == [(folder / pattern.format(day)).as_posix() for day in files]


def test_local_midnight_boundaries(tmp_path: Path) -> None:
    # Los Angeles, PDT: local 2024-06-10 00:00:00 is 07:00:00Z; 23:59:59 is 06:59:59Z next day.
    write_legacy(
        tmp_path,
        [
            (utc(2024, 6, 10, 6, 59, 59), 60),
            (utc(2024, 6, 10, 7, 0, 0), 61),
            (utc(2024, 6, 11, 6, 59, 59), 62),
            (utc(2024, 6, 11, 7, 0, 0), 63),
        ],
    )
    rows = dataset(FitbitExportSource(), user(tmp_path, "America/Los_Angeles"), date(2024, 6, 10))
    assert rows == [
        {"time": "00:00:00", "value": 61, "confidence": 2},
        {"time": "23:59:59", "value": 62, "confidence": 2},
    ]


@pytest.mark.parametrize("fmt", sorted(WRITERS))
def test_dst_fall_back_day_repeats_the_hour_in_order(tmp_path: Path, fmt: str) -> None:
    readings = every(utc(2024, 11, 2, 0, 0, 0), utc(2024, 11, 5, 0, 0, 0), timedelta(minutes=15))
    WRITERS[fmt](tmp_path, readings)
    day = date(2024, 11, 3)

    rows = dataset(FitbitExportSource(), user(tmp_path, "America/New_York"), day)

    assert [(row["time"], row["value"]) for row in rows] == expected(readings, "America/New_York", day)
    assert len(rows) == 25 * 4  # a 25-hour day
    one_am = [row for row in rows if row["time"].startswith("01:")]
    # 01:00-01:45 EDT are 05:00-05:45Z, then 01:00-01:45 EST are 06:00-06:45Z.
    bpm_at = dict(readings)
    assert [(row["time"], row["value"]) for row in one_am] == [
        (f"01:{minute:02d}:00", bpm_at[utc(2024, 11, 3, hour, minute, 0)])
        for hour in (5, 6)
        for minute in (0, 15, 30, 45)
    ]


@pytest.mark.parametrize("fmt", sorted(WRITERS))
def test_spring_forward_day_never_shows_the_skipped_hour(tmp_path: Path, fmt: str) -> None:
    readings = every(utc(2024, 3, 9, 0, 0, 0), utc(2024, 3, 12, 0, 0, 0), timedelta(minutes=15))
    WRITERS[fmt](tmp_path, readings)
    day = date(2024, 3, 10)

    rows = dataset(FitbitExportSource(), user(tmp_path, "America/New_York"), day)

    assert [(row["time"], row["value"]) for row in rows] == expected(readings, "America/New_York", day)
    assert len(rows) == 23 * 4
    assert not [row for row in rows if row["time"].startswith("02:")]
    assert [row["time"] for row in rows if row["time"][:2] in ("01", "03")][3:5] == ["01:45:00", "03:00:00"]


# -- export_timezone ----------------------------------------------------------------------------


def test_export_timezone_override_reads_timestamps_as_that_zone(tmp_path: Path) -> None:
    # Written as UTC instants, but the override says the naive timestamps are Berlin wall-clock times.
    readings = every(utc(2024, 6, 9, 0, 0, 0), utc(2024, 6, 12, 0, 0, 0), timedelta(minutes=30))
    write_legacy(tmp_path, readings)
    day = date(2024, 6, 10)
    source = FitbitExportSource()

    as_utc = dataset(source, user(tmp_path, "Europe/Berlin"), day)
    intraday, _, origin = fetch(source, user(tmp_path, "Europe/Berlin", export_timezone="Europe/Berlin"), day)
    as_berlin = intraday["activities-heart-intraday"]["dataset"]

    assert [(row["time"], row["value"]) for row in as_utc] == expected(readings, "Europe/Berlin", day)
    # Same zone on both sides: local times are the file's naive times, from that day's file only.
    assert [(row["time"], row["value"]) for row in as_berlin] == [
        (instant.strftime("%H:%M:%S"), bpm) for instant, bpm in readings if instant.date() == day
    ]
    assert origin == (LEGACY_DIR / "heart_rate-2024-06-10.json").as_posix()
    # Read as UTC, local midnight (CEST, UTC+2) is the reading written at 22:00Z the day before.
    assert (as_utc[0]["time"], as_utc[0]["value"]) == ("00:00:00", dict(readings)[utc(2024, 6, 9, 22, 0, 0)])


def test_export_timezone_fall_back_hour_resolved_by_file_order(tmp_path: Path) -> None:
    folder = tmp_path / LEGACY_DIR
    folder.mkdir(parents=True)
    stamps = ["00:30:00", "01:00:00", "01:30:00", "01:30:00", "01:00:00", "01:30:00", "02:00:00"]
    records = [
        {"dateTime": f"11/03/24 {stamp}", "value": {"bpm": 60 + n, "confidence": 3}} for n, stamp in enumerate(stamps)
    ]
    (folder / "heart_rate-2024-11-03.json").write_text(json.dumps(records))
    profile = user(tmp_path, "UTC", export_timezone="America/New_York")

    rows = dataset(FitbitExportSource(), profile, date(2024, 11, 3))

    # EDT (UTC-4) until the step back to 01:00, which starts EST (UTC-5); the repeated 01:30 is a
    # duplicate within the first pass, left for the loader.
    assert [(row["time"], row["value"]) for row in rows] == [
        ("04:30:00", 60),
        ("05:00:00", 61),
        ("05:30:00", 62),
        ("05:30:00", 63),
        ("06:00:00", 64),
        ("06:30:00", 65),
        ("07:00:00", 66),
    ]


def test_export_timezone_time_in_spring_gap_is_passed_through(tmp_path: Path) -> None:
    folder = tmp_path / LEGACY_DIR
    folder.mkdir(parents=True)
    records = [
        {"dateTime": "03/10/24 01:59:00", "value": {"bpm": 60}},
        {"dateTime": "03/10/24 02:30:00", "value": {"bpm": 61}},  # does not exist in New York
        {"dateTime": "03/10/24 03:00:00", "value": {"bpm": 62}},
    ]
    (folder / "heart_rate-2024-03-10.json").write_text(json.dumps(records))
    profile = user(tmp_path, "America/New_York", export_timezone="America/New_York")

    rows = dataset(FitbitExportSource(), profile, date(2024, 3, 10))

    name = (LEGACY_DIR / "heart_rate-2024-03-10.json").as_posix()
    assert rows == [
        {"time": "01:59:00", "value": 60},
        {"time": "03:00:00", "value": 62},
        {"time": "03/10/24 02:30:00", "value": 61, "raw": f"{name}[1]"},
    ]


# -- days without data, summary files -----------------------------------------------------------


def test_date_without_files_is_an_empty_day(tmp_path: Path) -> None:
    write_csv(tmp_path, [(utc(2024, 6, 10, 12, 0, 0), 70)])
    intraday, summary, origin = fetch(FitbitExportSource(), user(tmp_path, "Europe/London"), date(2023, 1, 1))
    assert intraday == {"activities-heart-intraday": {"dataset": [], "datasetInterval": 1, "datasetType": "second"}}
    assert summary == {
        "activities-heart": [{"dateTime": "2023-01-01", "value": {"customHeartRateZones": [], "heartRateZones": []}}]
    }
    assert origin == ""


def write_resting(root: Path, name: str, values: dict[date, float]) -> None:
    records = [
        {
            "dateTime": day.strftime("%m/%d/%y 00:00:00"),
            "value": {"date": day.strftime("%m/%d/%y"), "value": value, "error": 0.0 if value == 0 else 6.1},
        }
        for day, value in values.items()
    ]
    (root / LEGACY_DIR).mkdir(parents=True, exist_ok=True)
    (root / LEGACY_DIR / name).write_text(json.dumps(records))


def test_resting_heart_rate_from_multi_day_files(tmp_path: Path) -> None:
    june = {date(2024, 6, 1) + timedelta(days=n): 55.0 + n % 4 for n in range(30)}
    june[date(2024, 6, 3)] = 57.4
    june[date(2024, 6, 4)] = 58.5
    june[date(2024, 6, 15)] = 0.0
    write_resting(tmp_path, "resting_heart_rate-2024-06-01.json", june)
    write_resting(tmp_path, "resting_heart_rate-2024-07-01.json", {date(2024, 7, 1): 49.0})
    source = FitbitExportSource()
    profile = user(tmp_path, "Asia/Tokyo")

    def resting(day: date) -> Any:
        _, summary, _ = fetch(source, profile, day)
        return summary["activities-heart"][0]["value"].get("restingHeartRate", "omitted")

    assert resting(date(2024, 6, 2)) == 56
    assert resting(date(2024, 6, 3)) == 57
    assert resting(date(2024, 6, 4)) == 59  # 58.5 rounds half up
    assert resting(date(2024, 6, 15)) == "omitted"  # 0 = no estimate
    assert resting(date(2024, 7, 1)) == 49
    assert resting(date(2024, 7, 2)) == "omitted"
    assert resting(date(2024, 5, 31)) == "omitted"
    _, _, origin = fetch(source, profile, date(2024, 6, 20))
    assert origin == (LEGACY_DIR / "resting_heart_rate-2024-06-01.json").as_posix()


def test_conflicting_resting_heart_rate_records_raise(tmp_path: Path) -> None:
    write_resting(tmp_path, "resting_heart_rate-2024-06-01.json", {date(2024, 6, 1): 55.0})
    (tmp_path / "copy" / LEGACY_DIR).mkdir(parents=True)
    write_resting(tmp_path / "copy", "resting_heart_rate-2024-06-01.json", {date(2024, 6, 1): 58.0})
    with pytest.raises(SourceError, match="conflicting resting heart rate"):
        FitbitExportSource().fetch_day(user(tmp_path, "UTC"), date(2024, 6, 1))


def test_zone_file_mapped_to_api_zones(tmp_path: Path) -> None:
    records = [
        {
            "dateTime": "06/09/24 00:00:00",
            "value": {"valuesInZones": {"IN_DEFAULT_ZONE_1": 5.0, "BELOW_DEFAULT_ZONE_1": 1400.0}},
        },
        {
            "dateTime": "06/10/24 00:00:00",
            "value": {
                "valuesInZones": {
                    "IN_DEFAULT_ZONE_2": 10.0,
                    "IN_DEFAULT_ZONE_3": 2.0,
                    "BELOW_DEFAULT_ZONE_1": 1300.0,
                    "IN_DEFAULT_ZONE_1": 40.0,
                }
            },
        },
    ]
    (tmp_path / LEGACY_DIR).mkdir(parents=True)
    (tmp_path / LEGACY_DIR / "time_in_heart_rate_zones-2024-06-09.json").write_text(json.dumps(records))

    _, summary, _ = fetch(FitbitExportSource(), user(tmp_path, "America/Chicago"), date(2024, 6, 10))

    assert summary["activities-heart"][0]["value"] == {
        "customHeartRateZones": [],
        "heartRateZones": [
            {"name": "Out of Range", "minutes": 1300},
            {"name": "Fat Burn", "minutes": 40},
            {"name": "Cardio", "minutes": 10},
            {"name": "Peak", "minutes": 2},
        ],
    }


def test_one_payload_reads_only_its_own_files(tmp_path: Path) -> None:
    write_legacy(tmp_path, every(utc(2024, 6, 9, 12, 0, 0), utc(2024, 6, 11, 12, 0, 0), timedelta(minutes=1)))
    write_resting(tmp_path, "resting_heart_rate-2024-06-01.json", {date(2024, 6, 10): 52.0})
    source = FitbitExportSource()
    profile = user(tmp_path, "Asia/Tokyo")
    day = date(2024, 6, 10)
    whole = source.fetch_day(profile, day)
    resting_file = (LEGACY_DIR / "resting_heart_rate-2024-06-01.json").as_posix()
    heart_rate_files = [(LEGACY_DIR / f"heart_rate-2024-06-{d:02d}.json").as_posix() for d in (9, 10)]
    assert whole.origin.split(",") == [*heart_rate_files, resting_file]

    summary_only = source.fetch_day(profile, day, only="summary")
    assert (summary_only.intraday, summary_only.summary, summary_only.origin) == (b"", whole.summary, resting_file)
    intraday_only = source.fetch_day(profile, day, only="intraday")
    assert (intraday_only.intraday, intraday_only.summary) == (whole.intraday, b"")
    assert intraday_only.origin.split(",") == heart_rate_files


# -- bad input ----------------------------------------------------------------------------------


def test_malformed_json_raises_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / LEGACY_DIR).mkdir(parents=True)
    (tmp_path / LEGACY_DIR / "heart_rate-2024-06-10.json").write_text('[{"dateTime": "06/10/24 00:00:00",')
    with pytest.raises(SourceError, match=r"Global Export Data/heart_rate-2024-06-10\.json is not valid JSON"):
        FitbitExportSource().fetch_day(user(tmp_path, "UTC"), date(2024, 6, 10))


def test_wrong_csv_header_raises_naming_file_and_expected_header(tmp_path: Path) -> None:
    (tmp_path / CSV_DIR).mkdir(parents=True)
    (tmp_path / CSV_DIR / "heart_rate_2024-06-10.csv").write_text(
        "timestamp,bpm,data source\n2024-06-10T00:00:00Z,60,Watch\n"
    )
    with pytest.raises(SourceError) as caught:
        FitbitExportSource().fetch_day(user(tmp_path, "UTC"), date(2024, 6, 10))
    assert "heart_rate_2024-06-10.csv" in str(caught.value)
    assert "'timestamp,beats per minute,data source'" in str(caught.value)


@pytest.mark.parametrize("name", [(LEGACY_DIR / "heart_rate-2024-06-10.json"), (CSV_DIR / "heart_rate_2024-06-10.csv")])
def test_empty_file_raises(tmp_path: Path, name: Path) -> None:
    (tmp_path / name).parent.mkdir(parents=True)
    (tmp_path / name).write_text("\n")
    with pytest.raises(SourceError, match=rf"{name.name} is empty"):
        FitbitExportSource().fetch_day(user(tmp_path, "UTC"), date(2024, 6, 10))


def test_unreadable_csv_rows_are_passed_through_with_their_line(tmp_path: Path) -> None:
    (tmp_path / CSV_DIR).mkdir(parents=True)
    (tmp_path / CSV_DIR / "heart_rate_2024-06-10.csv").write_text(
        f"{CSV_HEADER}\n"
        "2024-06-10T08:00:00Z,61.0,Watch\n"
        "2024-06-10T08:00:05Z,abc,Watch\n"
        "2024-06-10T08:00:10Z,,Watch\n"
        "yesterday at noon,62,Watch\n"
        "2024-06-10T08:00:15Z,63.5,Watch\n"
        "2024-06-10T08:00:20Z,0,Watch\n"
        "2024-06-10T08:00:20Z,0,Watch\n"
        "2024-06-10T08:00:25Z,300,Watch\n"
    )
    name = (CSV_DIR / "heart_rate_2024-06-10.csv").as_posix()
    source = FitbitExportSource()
    profile = user(tmp_path, "UTC")

    rows = dataset(source, profile, date(2024, 6, 10))

    assert rows == [
        {"time": "08:00:00", "value": 61},
        {"time": "08:00:05", "value": "abc", "raw": f"{name}:3"},
        {"time": "08:00:10", "value": None, "raw": f"{name}:4"},
        {"time": "08:00:15", "value": "63.5", "raw": f"{name}:6"},
        {"time": "08:00:20", "value": 0},  # impossible and duplicated: for the loader to quarantine
        {"time": "08:00:20", "value": 0},
        {"time": "08:00:25", "value": 300},
        {"time": "yesterday at noon", "value": 62, "raw": f"{name}:5"},
    ]


def test_a_timestamp_that_is_not_ascii_is_passed_on_unplaced(tmp_path: Path) -> None:
    # Found by hypothesis: a lone surrogate as dateTime crashed fetch_day (polars cannot hold it).
    (tmp_path / LEGACY_DIR).mkdir(parents=True)
    records = [{"dateTime": "\ud800", "value": {"bpm": 60}}, {"dateTime": "06/10/24 08:00:00", "value": {"bpm": 61}}]
    (tmp_path / LEGACY_DIR / "heart_rate-2024-06-10.json").write_text(json.dumps(records))
    rows = dataset(FitbitExportSource(), user(tmp_path, "UTC"), date(2024, 6, 10))
    name = (LEGACY_DIR / "heart_rate-2024-06-10.json").as_posix()
    assert rows == [{"time": "08:00:00", "value": 61}, {"time": "\ud800", "value": 60, "raw": f"{name}[0]"}]


def test_a_bpm_of_thousands_of_digits_is_passed_on_as_text(tmp_path: Path) -> None:
    # int() refuses more than 4300 digits: the ValueError escaped fetch_day.
    (tmp_path / CSV_DIR).mkdir(parents=True)
    digits = "9" * 5000
    (tmp_path / CSV_DIR / "heart_rate_2024-06-10.csv").write_text(f"{CSV_HEADER}\n2024-06-10T08:00:00Z,{digits},W\n")
    rows = dataset(FitbitExportSource(), user(tmp_path, "UTC"), date(2024, 6, 10))
    name = (CSV_DIR / "heart_rate_2024-06-10.csv").as_posix()
    assert rows == [{"time": "08:00:00", "value": digits, "raw": f"{name}:2"}]


def test_unplaceable_reading_appears_on_exactly_one_day(tmp_path: Path) -> None:
    (tmp_path / LEGACY_DIR).mkdir(parents=True)
    records = [
        {"dateTime": "06/10/24 01:00:00", "value": {"bpm": 60, "confidence": 2}},
        {"dateTime": "06/10/24 1:00 PM", "value": {"bpm": 61, "confidence": 2}},
        {"dateTime": "06/10/24 02:00:00", "value": {"bpm": "abc", "confidence": 2}},
        {"dateTime": "06/11/24 03:00:00", "value": {"bpm": 62, "confidence": 2}},  # not this file's day
        {"dateTime": "06/10/24 04:00:00", "value": 64},
        ["not", "a", "record"],
    ]
    (tmp_path / LEGACY_DIR / "heart_rate-2024-06-10.json").write_text(json.dumps(records))
    name = (LEGACY_DIR / "heart_rate-2024-06-10.json").as_posix()
    source = FitbitExportSource()
    # Los Angeles: this UTC file overlaps local 06-09 and 06-10; its midday is local 06-10.
    profile = user(tmp_path, "America/Los_Angeles")

    assert dataset(source, profile, date(2024, 6, 9)) == [
        {"time": "18:00:00", "value": 60, "confidence": 2},
        {"time": "19:00:00", "value": "abc", "confidence": 2, "raw": f"{name}[2]"},
    ]
    assert dataset(source, profile, date(2024, 6, 10)) == [
        {"time": "06/10/24 1:00 PM", "value": 61, "confidence": 2, "raw": f"{name}[1]"},
        {"time": "06/11/24 03:00:00", "value": 62, "confidence": 2, "raw": f"{name}[3]"},
        {
            "time": "06/10/24 04:00:00",
            "value": {"dateTime": "06/10/24 04:00:00", "value": 64},
            "raw": f"{name}[4]",
        },
        {"time": None, "value": ["not", "a", "record"], "raw": f"{name}[5]"},
    ]
    assert dataset(source, profile, date(2024, 6, 11)) == []


def test_text_that_utf8_cannot_carry_is_passed_on_escaped(tmp_path: Path) -> None:
    # A lone surrogate (valid JSON, "\\ud800") made the payload's encoding raise UnicodeEncodeError.
    (tmp_path / LEGACY_DIR).mkdir(parents=True)
    records = [
        {"dateTime": "06/10/24 08:00:00", "value": {"bpm": "\ud800"}},
        {"dateTime": "06/10/24 08:00:01", "value": {"bpm": 61, "confidence": "é"}},
    ]
    (tmp_path / LEGACY_DIR / "heart_rate-2024-06-10.json").write_text(json.dumps(records))
    payload = FitbitExportSource().fetch_day(user(tmp_path, "UTC"), date(2024, 6, 10)).intraday
    name = (LEGACY_DIR / "heart_rate-2024-06-10.json").as_posix()
    assert json.loads(payload)["activities-heart-intraday"]["dataset"] == [
        {"time": "08:00:00", "value": "\ud800", "raw": f"{name}[0]"},
        {"time": "08:00:01", "value": 61, "confidence": "é", "raw": f"{name}[1]"},
    ]


def test_time_only_stamp_is_not_passed_as_a_valid_time(tmp_path: Path) -> None:
    (tmp_path / CSV_DIR).mkdir(parents=True)
    (tmp_path / CSV_DIR / "heart_rate_2024-06-10.csv").write_text(f"{CSV_HEADER}\n16:37:52,60,Watch\n")
    rows = dataset(FitbitExportSource(), user(tmp_path, "UTC"), date(2024, 6, 10))
    name = (CSV_DIR / "heart_rate_2024-06-10.csv").as_posix()
    assert rows == [{"time": None, "value": 60, "raw": f"{name}:2"}]


# -- configuration, discovery, dates -----------------------------------------------------------


def test_missing_path_or_folder_raises(tmp_path: Path) -> None:
    source = FitbitExportSource()
    no_path = UserProfile(user_id="u1", timezone="UTC", source="fitbit_export", source_config={})
    with pytest.raises(SourceError, match="needs 'path'"):
        source.fetch_day(no_path, date(2024, 6, 10))
    with pytest.raises(SourceError, match="does not exist"):
        source.available_dates(user(tmp_path / "missing", "UTC"))
    with pytest.raises(SourceError, match="not an IANA time zone"):
        source.fetch_day(user(tmp_path, "UTC", export_timezone="Mars/Olympus"), date(2024, 6, 10))


@pytest.mark.parametrize("fmt", sorted(WRITERS))
@pytest.mark.parametrize("timezone", ["America/Los_Angeles", "Asia/Tokyo", "UTC"])
def test_available_dates_from_file_names(tmp_path: Path, fmt: str, timezone: str) -> None:
    WRITERS[fmt](tmp_path, [(utc(2024, 1, 5, 12, 0, 0), 60), (utc(2024, 3, 1, 12, 0, 0), 61)])
    zone = ZoneInfo(timezone)
    # Local dates of the first file day's first instant and the last file day's last instant.
    first = utc(2024, 1, 5, 0, 0, 0).astimezone(zone).date()
    last = utc(2024, 3, 1, 23, 59, 59).astimezone(zone).date()

    assert FitbitExportSource().available_dates(user(tmp_path, timezone)) == DateRange(first, last)
    by_hand = {
        "America/Los_Angeles": (date(2024, 1, 4), date(2024, 3, 1)),
        "Asia/Tokyo": (date(2024, 1, 5), date(2024, 3, 2)),
        "UTC": (date(2024, 1, 5), date(2024, 3, 1)),
    }
    assert by_hand[timezone] == (first, last)


def test_available_dates_none_without_heart_rate_files(tmp_path: Path) -> None:
    write_resting(tmp_path, "resting_heart_rate-2024-06-01.json", {date(2024, 6, 1): 55.0})
    assert FitbitExportSource().available_dates(user(tmp_path, "UTC")) is None


def test_year_of_files_indexes_from_names(tmp_path: Path) -> None:
    folder = tmp_path / CSV_DIR
    folder.mkdir(parents=True)
    first = date(2023, 1, 1)
    for n in range(365):
        (folder / f"heart_rate_{(first + timedelta(days=n)).isoformat()}.csv").write_text(
            f"{CSV_HEADER}\n{(first + timedelta(days=n)).isoformat()}T12:00:00Z,{60 + n % 30},Watch\n"
        )
    (folder / "notes.txt").write_text("not an export file")
    (folder / "resting_heart_rate-2023-01-01.json").write_text("[]")

    index = discover(tmp_path)

    assert sorted(index.heart_rate_csv) == [first + timedelta(days=n) for n in range(365)]
    assert index.heart_rate_json == {}
    assert index.heart_rate_csv[date(2023, 7, 1)] == (CSV_DIR / "heart_rate_2023-07-01.csv",)
    assert list(index.resting_heart_rate) == [date(2023, 1, 1)]
    source = FitbitExportSource()
    _, _, origin = fetch(source, user(tmp_path, "Europe/Paris"), date(2023, 7, 1))
    assert origin.split(",") == [
        (CSV_DIR / "heart_rate_2023-06-30.csv").as_posix(),
        (CSV_DIR / "heart_rate_2023-07-01.csv").as_posix(),
        (CSV_DIR / "resting_heart_rate-2023-01-01.json").as_posix(),
    ]


def test_payloads_are_compact_and_deterministic(tmp_path: Path) -> None:
    write_legacy(tmp_path, every(utc(2024, 6, 10, 0, 0, 0), utc(2024, 6, 11, 0, 0, 0), timedelta(hours=1)))
    source: Source = FitbitExportSource()
    profile = user(tmp_path, "UTC")
    first = source.fetch_day(profile, date(2024, 6, 10))
    again = FitbitExportSource().fetch_day(profile, date(2024, 6, 10))
    assert first == again
    assert b", " not in first.intraday and b": " not in first.intraday
    assert first.intraday.startswith(b'{"activities-heart-intraday":{"dataset":[{"time":"00:00:00","value":40,')
    assert source.kind == "fitbit_export"


def test_csv_layout_variants(tmp_path: Path) -> None:
    (tmp_path / CSV_DIR).mkdir(parents=True)
    # Older Takeout header without "data source"; BOM; CRLF; blank lines; fractional seconds.
    (tmp_path / CSV_DIR / "heart_rate_2024-06-10.csv").write_bytes(
        b"\xef\xbb\xbftimestamp,beats per minute\r\n2024-06-10T08:00:00.250Z,61\r\n\r\n2024-06-10T08:00:01Z,62\r\n\r\n"
    )
    rows = dataset(FitbitExportSource(), user(tmp_path, "UTC"), date(2024, 6, 10))
    assert rows == [{"time": "08:00:00", "value": 61}, {"time": "08:00:01", "value": 62}]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (f"{CSV_HEADER}\n2024-06-10T08:00:00Z,61,Watch,extra\n", "cannot be read as CSV"),
        (f'{CSV_HEADER}\n2024-06-10T08:00:00Z,61,"Pixel\nWatch"\n', "field spanning lines"),
    ],
)
def test_csv_that_cannot_be_read_line_by_line_raises(tmp_path: Path, content: str, reason: str) -> None:
    (tmp_path / CSV_DIR).mkdir(parents=True)
    (tmp_path / CSV_DIR / "heart_rate_2024-06-10.csv").write_text(content)
    with pytest.raises(SourceError, match=rf"heart_rate_2024-06-10\.csv.*{reason}"):
        FitbitExportSource().fetch_day(user(tmp_path, "UTC"), date(2024, 6, 10))


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ('[{"dateTime": "06/10/24 08:00:00", "value": {"bpm": NaN}}]', "not valid JSON"),
        ('{"dateTime": "06/10/24 08:00:00"}', "should hold a JSON array"),
    ],
)
def test_legacy_json_that_cannot_be_read_raises(tmp_path: Path, content: str, reason: str) -> None:
    (tmp_path / LEGACY_DIR).mkdir(parents=True)
    (tmp_path / LEGACY_DIR / "heart_rate-2024-06-10.json").write_text(content)
    with pytest.raises(SourceError, match=rf"heart_rate-2024-06-10\.json.*{reason}"):
        FitbitExportSource().fetch_day(user(tmp_path, "UTC"), date(2024, 6, 10))


def test_unknown_zone_keys_are_kept_as_custom_zones(tmp_path: Path) -> None:
    records = [
        {
            "dateTime": "06/10/24 00:00:00",
            "value": {"valuesInZones": {"IN_DEFAULT_ZONE_1": 12.5, "IN_CUSTOM_ZONE": 7.0}},
        }
    ]
    (tmp_path / LEGACY_DIR).mkdir(parents=True)
    (tmp_path / LEGACY_DIR / "time_in_heart_rate_zones-2024-06-10.json").write_text(json.dumps(records))
    _, summary, _ = fetch(FitbitExportSource(), user(tmp_path, "UTC"), date(2024, 6, 10))
    assert summary["activities-heart"][0]["value"] == {
        "customHeartRateZones": [{"name": "IN_CUSTOM_ZONE", "minutes": 7}],
        "heartRateZones": [{"name": "Fat Burn", "minutes": 13}],
    }


def test_resting_record_with_unreadable_date_raises(tmp_path: Path) -> None:
    records = [{"dateTime": "06/01/24 00:00:00", "value": {"date": "June 1st", "value": 55.0, "error": 6.0}}]
    (tmp_path / LEGACY_DIR).mkdir(parents=True)
    (tmp_path / LEGACY_DIR / "resting_heart_rate-2024-06-01.json").write_text(json.dumps(records))
    with pytest.raises(SourceError, match=r"resting_heart_rate-2024-06-01\.json\[0\]: unreadable date"):
        FitbitExportSource().fetch_day(user(tmp_path, "UTC"), date(2024, 6, 1))


def test_impossible_date_in_file_name_fails_discovery(tmp_path: Path) -> None:
    (tmp_path / LEGACY_DIR).mkdir(parents=True)
    (tmp_path / LEGACY_DIR / "heart_rate-2024-02-30.json").write_text("[]")
    with pytest.raises(SourceError, match=r"heart_rate-2024-02-30\.json: file name has an impossible date"):
        discover(tmp_path)


def test_index_is_cached_per_folder(tmp_path: Path) -> None:
    write_csv(tmp_path, [(utc(2024, 6, 10, 12, 0, 0), 70)])
    source = FitbitExportSource()
    assert source.index(user(tmp_path, "UTC")) is source.index(user(tmp_path, "Asia/Tokyo"))
