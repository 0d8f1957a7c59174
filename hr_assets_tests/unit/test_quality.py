"""The quality checks as plain functions: what passes, what fails, how badly, and what the metadata says."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import polars as pl
import pytest

from hr_assets.domain import quality
from hr_assets.domain.quality import DayStats
from hr_assets.domain.transform import INTRADAY_SCHEMA, ParsedIntraday, ParsedSummary, parse_intraday, parse_summary
from hr_assets.warehouse.loads import covered_seconds
from hr_assets_tests.payloads import every, intraday, summary

DAY = date(2025, 6, 1)
# Berlin's 2025-06-01 is 2025-05-31 22:00 UTC to 2025-06-01 22:00 UTC (CEST, UTC+2).
ZONE = "Europe/Berlin"
WINDOW_START = datetime(2025, 5, 31, 22, tzinfo=UTC)
WINDOW_END = datetime(2025, 6, 1, 22, tzinfo=UTC)


def _parsed(dataset: list[Any], day: date = DAY, zone: str = ZONE) -> ParsedIntraday:
    return parse_intraday(intraday(dataset), user_id="u1", day=day, timezone=zone)


def _frame(times: list[datetime], bpm: list[int], confidence: list[int | None] | None = None) -> pl.DataFrame:
    """An intraday frame built directly (bypassing the parser), in the loader's dtypes."""
    return pl.DataFrame(
        {
            "user_id": ["u1"] * len(times),
            "time": times,
            "bpm": bpm,
            "confidence": confidence if confidence is not None else [None] * len(times),
        },
        schema=INTRADAY_SCHEMA,
    )


def _with(readings: pl.DataFrame) -> ParsedIntraday:
    return ParsedIntraday(readings, pl.DataFrame(schema={"record": pl.String, "reason": pl.String}), *_window())


def _window() -> tuple[datetime, datetime]:
    return WINDOW_START, WINDOW_END


def _minutes(count: int, start: datetime = WINDOW_START) -> list[datetime]:
    return [start + timedelta(minutes=m) for m in range(count)]


def _failure_cases(metadata: dict[str, Any]) -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = json.loads(metadata["failure_cases"])
    return cases


# --- intraday schema (pandera IntradayFrame) --------------------------------------------------


def test_schema_passes_on_what_the_parser_produces() -> None:
    parsed = _parsed(every(60))
    outcome = quality.intraday_schema(parsed)
    assert outcome.passed and outcome.severity == "error"
    assert outcome.metadata == {"rows": 24 * 60}


@pytest.mark.parametrize(
    ("change", "column", "found"),
    [
        (pl.col("bpm").cast(pl.Int64), "bpm", "Int64"),
        (pl.col("confidence").cast(pl.Float64), "confidence", "Float64"),
        (pl.col("time").dt.replace_time_zone(None), "time", "time_zone=None"),
        (pl.col("time").dt.cast_time_unit("ms"), "time", "time_unit='ms'"),
    ],
)
def test_schema_refuses_a_wrong_dtype(change: pl.Expr, column: str, found: str) -> None:
    readings = _frame(_minutes(5), [60] * 5).with_columns(change)
    outcome = quality.intraday_schema(_with(readings))
    assert not outcome.passed and outcome.severity == "error"
    [case] = _failure_cases(outcome.metadata)
    assert case["column"] == column and found in case["failure_case"] and case["check"].startswith("dtype(")


def test_schema_refuses_a_missing_or_an_extra_column() -> None:
    extra = quality.intraday_schema(_with(_frame(_minutes(3), [60] * 3).with_columns(pl.lit(1).alias("steps"))))
    missing = quality.intraday_schema(_with(_frame(_minutes(3), [60] * 3).drop("confidence")))
    assert not extra.passed and not missing.passed
    assert [c["check"] for c in _failure_cases(extra.metadata)] == ["column_in_schema"]
    assert [c["failure_case"] for c in _failure_cases(missing.metadata)] == ["confidence"]


@pytest.mark.parametrize(
    ("bad_bpm", "check"), [(0, "greater_than_or_equal_to(1)"), (300, "less_than_or_equal_to(250)")]
)
def test_schema_refuses_impossible_bpm_that_bypassed_the_parser(bad_bpm: int, check: str) -> None:
    bpm = [60, bad_bpm, 61, bad_bpm, bad_bpm, 62]
    outcome = quality.intraday_schema(_with(_frame(_minutes(len(bpm)), bpm)))
    assert not outcome.passed and outcome.severity == "error"
    assert outcome.metadata["failures"] == 3
    cases = _failure_cases(outcome.metadata)
    assert {(c["column"], c["check"], c["failure_case"]) for c in cases} == {("bpm", check, str(bad_bpm))}
    assert sorted(int(c["index"]) for c in cases) == [1, 3, 4]


def test_schema_refuses_a_repeated_user_and_time() -> None:
    times = _minutes(4)
    outcome = quality.intraday_schema(_with(_frame([*times, times[2]], [60, 61, 62, 63, 64])))
    assert not outcome.passed and outcome.severity == "error"
    cases = _failure_cases(outcome.metadata)
    # Both rows of the repeated pair are reported.
    assert outcome.metadata["failures"] == 2
    assert {c["check"] for c in cases} == {"multiple_fields_uniqueness"}
    assert sorted(int(c["index"]) for c in cases) == [2, 4]


def test_the_same_time_for_two_users_is_not_a_repeat() -> None:
    times = _minutes(2)
    readings = pl.concat([_frame(times, [60, 61]), _frame(times, [70, 71]).with_columns(pl.lit("u2").alias("user_id"))])
    assert quality.intraday_schema(_with(readings)).passed


def test_schema_refuses_a_confidence_above_three_that_the_parser_lets_through() -> None:
    dataset = [{"time": "08:00:00", "value": 60, "confidence": 3}, {"time": "08:00:05", "value": 61, "confidence": 9}]
    parsed = _parsed(dataset)
    assert parsed.readings.height == 2 and parsed.quarantined.is_empty()
    outcome = quality.intraday_schema(parsed)
    assert not outcome.passed and outcome.severity == "error"
    [case] = _failure_cases(outcome.metadata)
    assert (case["column"], case["failure_case"], case["check"]) == ("confidence", "9", "less_than_or_equal_to(3)")


def test_schema_refuses_an_invalid_user_id() -> None:
    readings = _frame(_minutes(2), [60, 61]).with_columns(pl.lit("User One").alias("user_id"))
    outcome = quality.intraday_schema(_with(readings))
    assert not outcome.passed and outcome.metadata["failures"] == 2


# --- intraday plausibility --------------------------------------------------------------------


def test_plausibility_passes_on_plausible_readings_including_the_band_edges() -> None:
    bpm = [quality.PLAUSIBLE_MIN_BPM, 60, quality.PLAUSIBLE_MAX_BPM]
    outcome = quality.intraday_plausibility(_with(_frame(_minutes(3), bpm)))
    assert outcome.passed
    assert outcome.metadata == {"implausible_bpm": 0, "duplicate_timestamps": 0, "outside_local_day": 0}


def test_plausibility_warns_with_the_count_of_implausible_bpm() -> None:
    # 20 and 24 bpm pass the parser (1..250) but are below the plausible band (25..250).
    dataset = [{"time": f"08:{m:02d}:00", "value": v} for m, v in enumerate([60, 20, 61, 24, 20, 62])]
    parsed = _parsed(dataset)
    assert parsed.quarantined.is_empty()
    outcome = quality.intraday_plausibility(parsed)
    assert not outcome.passed and outcome.severity == "warn"
    assert outcome.metadata["implausible_bpm"] == 3
    assert outcome.metadata["duplicate_timestamps"] == 0 and outcome.metadata["outside_local_day"] == 0
    assert sorted(row["bpm"] for row in json.loads(outcome.metadata["sample"])) == [20, 20, 24]
    assert "3 reading(s)" in outcome.description


def test_plausibility_fails_with_error_on_repeated_timestamps() -> None:
    times = _minutes(3)
    outcome = quality.intraday_plausibility(_with(_frame([*times, times[1]], [60, 61, 62, 63])))
    assert not outcome.passed and outcome.severity == "error"
    assert outcome.metadata["duplicate_timestamps"] == 2 and outcome.metadata["outside_local_day"] == 0


@pytest.mark.parametrize(
    "when",
    [WINDOW_START - timedelta(seconds=1), WINDOW_END, WINDOW_END + timedelta(hours=3)],
    ids=["before-start", "at-end", "after-end"],
)
def test_plausibility_fails_with_error_on_a_reading_outside_the_local_day(when: datetime) -> None:
    outcome = quality.intraday_plausibility(_with(_frame([WINDOW_START, when], [60, 61])))
    assert not outcome.passed and outcome.severity == "error"
    assert outcome.metadata["outside_local_day"] == 1
    [row] = json.loads(outcome.metadata["sample"])
    assert row["bpm"] == 61


def test_plausibility_reports_the_error_when_a_frame_is_both_implausible_and_outside() -> None:
    outcome = quality.intraday_plausibility(_with(_frame([WINDOW_START, WINDOW_END], [20, 60])))
    assert not outcome.passed and outcome.severity == "error"
    assert outcome.metadata["implausible_bpm"] == 1 and outcome.metadata["outside_local_day"] == 1


# --- coverage ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("covered", "day_seconds", "threshold", "passed"),
    [
        (20 * 60, 86400, 0.5, False),  # 20 minutes of a day
        (43200, 86400, 0.5, True),  # exactly the threshold
        (43140, 86400, 0.5, False),  # one minute short of it
        (86400, 86400, 0.5, True),
        (60000, 82800, 0.75, False),  # a 23-hour DST day: 72 %
        (0, 0, 0.5, False),  # an empty window never passes
    ],
)
def test_coverage_warns_below_the_threshold(covered: int, day_seconds: int, threshold: float, passed: bool) -> None:
    outcome = quality.coverage(covered, day_seconds, threshold)
    assert outcome.passed is passed and outcome.severity == "warn"
    share = covered / day_seconds if day_seconds else 0.0
    assert outcome.metadata == {
        "coverage": round(share, 4),
        "covered_seconds": covered,
        "day_seconds": day_seconds,
        "threshold": threshold,
    }


def test_coverage_of_a_short_dst_day_counts_its_23_hours() -> None:
    parsed = _parsed(every(60, end=23 * 3600), day=date(2025, 3, 30))  # Berlin springs forward that night
    assert parsed.day_seconds == 23 * 3600
    # 23 hours of wall clock, one of which does not exist: 22 hours of readings in a 23-hour day.
    outcome = quality.coverage(covered_seconds(parsed.readings), parsed.day_seconds, 0.5)
    assert outcome.passed and outcome.metadata["coverage"] == round(22 / 23, 4)


# --- quarantine -------------------------------------------------------------------------------


def test_quarantine_passes_when_nothing_was_refused() -> None:
    outcome = quality.quarantine(_parsed(every(600)).quarantined)
    assert outcome.passed and outcome.metadata == {"quarantined": 0}


def test_quarantine_warns_with_the_count_and_the_reasons() -> None:
    dataset = [
        {"time": "08:00:00", "value": 0},
        {"time": "08:01:00", "value": 60},
        {"time": "08:02:00", "value": 0},
        {"time": "08:03:00", "value": "high"},
    ]
    outcome = quality.quarantine(_parsed(dataset).quarantined)
    assert not outcome.passed and outcome.severity == "warn"
    assert outcome.metadata["quarantined"] == 3
    reasons = dict(json.loads(outcome.metadata["reasons"]))
    assert reasons == {"impossible bpm 0 (outside 1..250)": 2, "'value' is not an integer: 'high'": 1}
    assert len(json.loads(outcome.metadata["sample"])) == 3


def test_quarantine_lists_the_most_common_reasons_first() -> None:
    # Twelve distinct reasons, one of them five times: the ten listed must start with it.
    dataset = [{"time": f"08:{m:02d}:00", "value": 0} for m in range(5)]
    dataset += [{"time": f"09:{m:02d}:00", "value": f"v{m}"} for m in range(11)]
    outcome = quality.quarantine(_parsed(dataset).quarantined)
    reasons = json.loads(outcome.metadata["reasons"])
    assert len(reasons) == quality.SAMPLE_ROWS
    assert reasons[0] == ["impossible bpm 0 (outside 1..250)", 5]
    assert all(count == 1 for _, count in reasons[1:])


# --- summary schema and consistency -----------------------------------------------------------


def _summary(resting: Any = 61, zones: Any = None) -> ParsedSummary:
    return parse_summary(summary(DAY, resting=resting, zones=zones), user_id="u1", day=DAY)


def _zones(*minutes: int) -> list[dict[str, Any]]:
    names = ["Out of Range", "Fat Burn", "Cardio", "Peak"]
    return [{"name": names[i], "min": 30, "max": 220, "minutes": m} for i, m in enumerate(minutes)]


def test_summary_schema_passes_on_a_normal_day() -> None:
    outcome = quality.summary_schema(_summary())
    assert outcome.passed and outcome.metadata == {"rows": 1}


def test_summary_schema_accepts_a_day_without_resting_heart_rate() -> None:
    assert quality.summary_schema(_summary(resting=None)).passed


@pytest.mark.parametrize(
    ("parsed", "column"),
    [
        # 20 bpm passes the parser (1..250) but not the plausible resting range.
        (lambda: _summary(resting=20), "resting_heart_rate"),
        # More zone minutes than a 25-hour day has.
        (lambda: _summary(zones=_zones(1400, 100, 1)), "zone_minutes"),
    ],
    ids=["resting-20", "zone-minutes-1501"],
)
def test_summary_schema_fails_with_error(parsed: Any, column: str) -> None:
    outcome = quality.summary_schema(parsed())
    assert not outcome.passed and outcome.severity == "error"
    [case] = _failure_cases(outcome.metadata)
    assert case["column"] == column


def test_summary_schema_accepts_exactly_25_hours_of_zone_minutes() -> None:
    assert quality.summary_schema(_summary(zones=_zones(1400, 100))).passed


def test_summary_consistency_passes_when_zone_minutes_match_the_readings() -> None:
    parsed = _summary(resting=55, zones=_zones(1300, 100, 30, 10))  # 1440 minutes
    outcome = quality.summary_consistency(parsed, DayStats(minutes_with_readings=1430, min_bpm=48, max_bpm=170))
    assert outcome.passed
    assert outcome.metadata == {
        "zone_minutes": 1440,
        "resting_heart_rate": 55,
        "minutes_with_readings": 1430,
        "min_bpm": 48,
        "max_bpm": 170,
    }


@pytest.mark.parametrize(
    ("readings_minutes", "passed"),
    [
        (1440 - quality.ZONE_MINUTES_TOLERANCE, True),
        (1440 + quality.ZONE_MINUTES_TOLERANCE, True),
        (1440 - quality.ZONE_MINUTES_TOLERANCE - 1, False),
        (600, False),
    ],
)
def test_summary_consistency_fails_when_zone_minutes_are_far_from_the_readings(
    readings_minutes: int, passed: bool
) -> None:
    parsed = _summary(resting=55, zones=_zones(1300, 100, 30, 10))
    outcome = quality.summary_consistency(parsed, DayStats(readings_minutes, 48, 170))
    assert outcome.passed is passed and outcome.severity == "warn"
    if not passed:
        assert f"zone minutes 1440 vs {readings_minutes}" in outcome.description


@pytest.mark.parametrize("resting", [47, 171])
def test_summary_consistency_fails_when_resting_heart_rate_is_outside_the_days_range(resting: int) -> None:
    parsed = _summary(resting=resting, zones=_zones(1300, 100, 30, 10))
    outcome = quality.summary_consistency(parsed, DayStats(1440, 48, 170))
    assert not outcome.passed and outcome.severity == "warn"
    assert outcome.description == f"resting heart rate {resting} outside the day's range 48..170"


def test_summary_consistency_reports_both_problems() -> None:
    parsed = _summary(resting=40, zones=_zones(100))
    outcome = quality.summary_consistency(parsed, DayStats(1440, 48, 170))
    assert not outcome.passed
    assert "zone minutes 100 vs 1440" in outcome.description and "resting heart rate 40" in outcome.description


def test_summary_consistency_passes_without_readings_or_without_zones() -> None:
    no_readings = quality.summary_consistency(_summary(resting=40), None)
    assert no_readings.passed and "minutes_with_readings" not in no_readings.metadata
    no_zones = quality.summary_consistency(_summary(resting=55, zones=[]), DayStats(1440, 48, 170))
    assert no_zones.passed and no_zones.metadata["zone_minutes"] == 0


def test_summary_consistency_says_so_when_the_load_recorded_no_bpm_range() -> None:
    # An intraday load recorded before partition_loads kept the bpm range (migration 0005).
    parsed = _summary(resting=200, zones=_zones(1300, 100, 30, 10))
    outcome = quality.summary_consistency(parsed, DayStats(1440, None, None))
    assert outcome.passed
    assert "resting heart rate not compared" in outcome.description
    far = quality.summary_consistency(parsed, DayStats(600, None, None))
    assert not far.passed and far.description == "zone minutes 1440 vs 600 minutes with readings"
