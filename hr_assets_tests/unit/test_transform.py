from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from hr_assets.domain.transform import PayloadError, local_day_window, parse_intraday, parse_summary
from hr_assets_tests.payloads import every, intraday, summary

DAY = date(2025, 6, 1)
UNSTORABLE = "holds what PostgreSQL's jsonb cannot store (NaN, Infinity, a NUL character or a lone surrogate)"


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_local_times_become_utc_with_the_users_zone() -> None:
    parsed = parse_intraday(
        intraday([{"time": "00:00:05", "value": 70}, {"time": "13:30:00", "value": 90}]),
        user_id="u",
        day=DAY,
        timezone="Europe/Berlin",
    )
    assert parsed.readings["time"].to_list() == [_utc("2025-05-31 22:00:05"), _utc("2025-06-01 11:30:00")]
    assert parsed.readings["bpm"].to_list() == [70, 90]
    assert parsed.readings["user_id"].unique().to_list() == ["u"]
    assert (
        parsed.readings.schema["bpm"].is_integer()
        and str(parsed.readings.schema["time"]) == "Datetime(time_unit='us', time_zone='UTC')"
    )
    assert parsed.quarantined.is_empty()


@pytest.mark.parametrize(
    ("zone", "day", "hours"),
    [
        ("America/New_York", date(2025, 3, 9), 23),
        ("America/New_York", date(2025, 11, 2), 25),
        ("Europe/Berlin", date(2025, 3, 30), 23),
        ("Europe/Berlin", date(2025, 10, 26), 25),
        ("Australia/Sydney", date(2025, 4, 6), 25),
        ("Australia/Sydney", date(2025, 10, 5), 23),
        ("Asia/Tokyo", date(2025, 6, 1), 24),
    ],
)
def test_a_partition_covers_the_local_day(zone: str, day: date, hours: int) -> None:
    start, end = local_day_window(day, zone)
    assert end - start == timedelta(hours=hours)
    assert start.astimezone(ZoneInfo(zone)).replace(tzinfo=None) == datetime.combine(day, datetime.min.time())


@pytest.mark.parametrize(
    ("zone", "day", "repeated_hour"),
    [
        ("America/New_York", date(2025, 11, 2), 1),
        ("Europe/Berlin", date(2025, 10, 26), 2),
        ("Australia/Sydney", date(2025, 4, 6), 2),
    ],
)
def test_fall_back_repeated_hour_is_resolved_by_order(zone: str, day: date, repeated_hour: int) -> None:
    # A watch's dataset: the repeated hour appears twice, in the order the readings were taken.
    first = [{"time": f"{repeated_hour:02d}:{m:02d}:00", "value": 60} for m in range(0, 60, 10)]
    second = [{"time": f"{repeated_hour:02d}:{m:02d}:00", "value": 80} for m in range(0, 60, 10)]
    parsed = parse_intraday(intraday(first + second), user_id="u", day=day, timezone=zone)
    assert parsed.quarantined.is_empty()
    assert parsed.readings.height == 12
    times = parsed.readings["time"].to_list()
    # Strictly increasing instants one hour apart between the two occurrences.
    assert times == sorted(times) and len(set(times)) == 12
    assert times[6] - times[0] == timedelta(hours=1)
    assert parsed.readings["bpm"].to_list() == [60] * 6 + [80] * 6
    tz = ZoneInfo(zone)
    folds = [t.astimezone(tz).fold for t in times]
    assert folds == [0] * 6 + [1] * 6


@pytest.mark.parametrize(
    ("zone", "day", "missing_hour"),
    [
        ("America/New_York", date(2025, 3, 9), 2),
        ("Europe/Berlin", date(2025, 3, 30), 2),
        ("Australia/Sydney", date(2025, 10, 5), 2),
    ],
)
def test_spring_forward_nonexistent_times_are_quarantined(zone: str, day: date, missing_hour: int) -> None:
    dataset = [
        {"time": f"{missing_hour - 1:02d}:59:59", "value": 60},
        {"time": f"{missing_hour:02d}:30:00", "value": 61},
        {"time": f"{missing_hour + 1:02d}:00:00", "value": 62},
    ]
    parsed = parse_intraday(intraday(dataset), user_id="u", day=day, timezone=zone)
    assert parsed.readings["bpm"].to_list() == [60, 62]
    assert parsed.readings["time"][1] - parsed.readings["time"][0] == timedelta(seconds=1)
    [row] = parsed.quarantined.to_dicts()
    assert '"02:30:00"' in row["record"] and "does not exist" in row["reason"] and "record 1" in row["reason"]


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ({"time": "10:00:00", "value": 0}, "impossible bpm 0"),
        ({"time": "10:00:00", "value": -5}, "impossible bpm -5"),
        ({"time": "10:00:00", "value": 251}, "impossible bpm 251"),
        ({"time": "10:00:00", "value": "64"}, "'value' is not an integer"),
        ({"time": "10:00:00", "value": 64.5}, "'value' is not an integer"),
        ({"time": "10:00:00", "value": True}, "'value' is not an integer"),
        ({"time": "10:00:00"}, "missing 'value'"),
        ({"value": 64}, "missing 'time'"),
        ({"tiem": "10:00:00", "value": 64}, "missing 'time'"),
        ({"time": 36000, "value": 64}, "'time' is not a string"),
        ({"time": "10:00", "value": 64}, "is not HH:MM:SS"),
        ({"time": "24:00:00", "value": 64}, "is not HH:MM:SS"),
        # Not exactly HH:MM:SS: polars would read these as 01:02:03, 10:00:00 and 10:01:00.
        ({"time": "1:2:3", "value": 64}, "time '1:2:3' is not HH:MM:SS"),
        ({"time": " 10:00:00", "value": 64}, "time ' 10:00:00' is not HH:MM:SS"),
        ({"time": "10:00:60", "value": 64}, "time '10:00:60' is not HH:MM:SS"),
        ({"time": "\ud800", "value": 64}, "time '\\ud800' is not HH:MM:SS"),  # a lone surrogate polars cannot hold
        ("10:00:00 64", "not an object"),
        ({"time": "10:00:00", "value": 64, "confidence": "high"}, "'confidence' is not an integer"),
        # Beyond the smallint column: 40000 crashed the cast, 10**20 became NULL without a word.
        ({"time": "10:00:00", "value": 64, "confidence": 40000}, "impossible confidence 40000"),
        ({"time": "10:00:00", "value": 64, "confidence": 10**20}, f"impossible confidence {10**20}"),
    ],
)
def test_bad_records_are_quarantined_and_good_ones_kept(record: object, reason: str) -> None:
    dataset = [{"time": "09:59:59", "value": 70}, record, {"time": "10:00:01", "value": 72}]
    parsed = parse_intraday(intraday(dataset), user_id="u", day=DAY, timezone="UTC")
    assert parsed.readings["bpm"].to_list() == [70, 72]
    [row] = parsed.quarantined.to_dicts()
    assert reason in row["reason"] and row["reason"].startswith("record 1:")
    assert row["record"]  # the raw record is kept


def test_duplicate_timestamps_keep_the_first_and_quarantine_the_rest() -> None:
    dataset = [
        {"time": "08:00:00", "value": 70},
        {"time": "08:00:00", "value": 99},
        {"time": "08:00:00", "value": 98},
        {"time": "08:00:01", "value": 71},
    ]
    parsed = parse_intraday(intraday(dataset), user_id="u", day=DAY, timezone="UTC")
    assert parsed.readings["bpm"].to_list() == [70, 71]
    reasons = sorted(parsed.quarantined["reason"].to_list())
    assert len(reasons) == 2 and all("duplicate timestamp 08:00:00" in r for r in reasons)


def test_out_of_order_readings_are_sorted() -> None:
    dataset = [{"time": "08:00:02", "value": 72}, {"time": "08:00:01", "value": 71}]
    parsed = parse_intraday(intraday(dataset), user_id="u", day=DAY, timezone="UTC")
    assert parsed.readings["bpm"].to_list() == [71, 72]


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"", "empty payload"),
        (b"   \n", "empty payload"),
        (b"{not json", "not valid JSON"),
        # These made json.loads raise RecursionError and a plain ValueError, which crashed the parser.
        (b"[" * 100_000, r"not valid JSON \(nested too deeply to read\)"),
        (b'{"activities-heart-intraday": {"dataset": [], "n": ' + b"9" * 5000 + b"}}", "Exceeds the limit"),
        (b"[]", "missing object 'activities-heart-intraday'"),
        (b'{"activities-heart-intraday": {"datasett": []}}', "dataset' must be a list"),
        (b'{"activities-heart-intraday": []}', "missing object 'activities-heart-intraday'"),
    ],
)
def test_unusable_intraday_payload_is_refused_with_where_and_why(payload: bytes, message: str) -> None:
    with pytest.raises(PayloadError, match=message) as info:
        parse_intraday(payload, user_id="u", day=DAY, timezone="UTC", where="heart_rate-2025-06-01.json")
    assert "heart_rate-2025-06-01.json" in str(info.value)


def test_payload_for_another_day_is_refused() -> None:
    with pytest.raises(PayloadError, match="payload is for '2025-06-02'"):
        parse_intraday(intraday(every(60), day=date(2025, 6, 2)), user_id="u", day=DAY, timezone="UTC")


def test_empty_dataset_is_an_empty_day() -> None:
    parsed = parse_intraday(intraday([]), user_id="u", day=DAY, timezone="UTC")
    assert parsed.readings.is_empty() and parsed.quarantined.is_empty()


def test_unknown_time_zone_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown IANA time zone 'Mars/Olympus'"):
        parse_intraday(intraday(every(60)), user_id="u", day=DAY, timezone="Mars/Olympus")


def test_summary_fields() -> None:
    parsed = parse_summary(summary(DAY, resting=58), user_id="u", day=DAY)
    assert parsed.resting_heart_rate == 58
    assert [z["name"] for z in parsed.heart_rate_zones] == ["Out of Range", "Fat Burn", "Cardio", "Peak"]
    assert parsed.custom_heart_rate_zones == [] and parsed.quarantined.is_empty()


def test_summary_without_optional_fields() -> None:
    parsed = parse_summary(summary(DAY, resting=None, zones=[{"name": "Peak"}]), user_id="u", day=DAY)
    assert parsed.resting_heart_rate is None and parsed.heart_rate_zones == [{"name": "Peak"}]


@pytest.mark.parametrize("number", [b"NaN", b"Infinity"])
def test_summary_zone_numbers_that_json_cannot_store_are_quarantined(number: bytes) -> None:
    # json.loads reads NaN and Infinity; the zone was kept, and its load failed (JSONB holds neither).
    payload = b'{"activities-heart": [{"dateTime": "2025-06-01", "value": {"heartRateZones": [{"name": "Peak", '
    parsed = parse_summary(payload + b'"minutes": ' + number + b"}]}}]}", user_id="u", day=DAY)
    assert parsed.heart_rate_zones == []
    [reason] = parsed.quarantined["reason"].to_list()
    assert reason.startswith("heartRateZones[0]: 'minutes' is not a non-negative number")


@pytest.mark.parametrize("text", ["Peak\x00", "\ud800", "\x00"])
def test_summary_zone_text_that_jsonb_cannot_store_is_quarantined(text: str) -> None:
    # PostgreSQL's jsonb refuses NUL and lone surrogates: the zone was kept, and the whole summary's load failed.
    zones = [{"name": "Fat Burn", "minutes": 10}, {"name": text, "minutes": 5}, {"name": "Cardio", text: 1}]
    parsed = parse_summary(summary(DAY, zones=zones), user_id="u", day=DAY)
    assert parsed.heart_rate_zones == [{"name": "Fat Burn", "minutes": 10}]
    assert parsed.quarantined["reason"].to_list() == [f"heartRateZones[{i}]: {UNSTORABLE}" for i in (1, 2)]


def test_summary_zone_holding_nan_under_any_key_is_quarantined() -> None:
    # Found by hypothesis: NaN under a key the parser does not know passed, and failed the load.
    payload = b'{"activities-heart": [{"dateTime": "2025-06-01", "value": {"customHeartRateZones": '
    payload += b'[{"name": "Z", "minutes": 1, "calories": NaN}, {"name": "Y", "extra": [-Infinity]}]}}]}'
    parsed = parse_summary(payload, user_id="u", day=DAY)
    assert parsed.custom_heart_rate_zones == []
    assert parsed.quarantined["reason"].to_list() == [f"customHeartRateZones[{i}]: {UNSTORABLE}" for i in (0, 1)]


def test_summary_bad_parts_are_quarantined() -> None:
    zones = [
        {"name": "Fat Burn", "min": 94, "max": 131, "minutes": 10},
        {"name": "Cardio", "minutes": "ten"},
        {"min": 1},
    ]
    parsed = parse_summary(summary(DAY, resting=0, zones=zones), user_id="u", day=DAY)
    assert parsed.resting_heart_rate is None
    assert [z["name"] for z in parsed.heart_rate_zones] == ["Fat Burn"]
    reasons = parsed.quarantined["reason"].to_list()
    assert any("restingHeartRate 0" in r for r in reasons)
    assert any("heartRateZones[1]: 'minutes'" in r for r in reasons)
    assert any("heartRateZones[2]: missing 'name'" in r for r in reasons)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"", "empty payload"),
        (b"{}", "missing list 'activities-heart'"),
        (b'{"activities-heart": ' + b"[" * 100_000, "nested too deeply"),
        (b'{"activities-heart": [{"dateTime": "2025-06-01", "value": 5}]}', "must be an object"),
    ],
)
def test_unusable_summary_is_refused(payload: bytes, message: str) -> None:
    with pytest.raises(PayloadError, match=message):
        parse_summary(payload, user_id="u", day=DAY)


def test_summary_for_another_day_is_refused() -> None:
    with pytest.raises(PayloadError, match="payload is for '2025-06-02'"):
        parse_summary(summary(date(2025, 6, 2)), user_id="u", day=DAY)
