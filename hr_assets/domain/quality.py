"""Data quality of one partition: pandera models and plain check functions (no Dagster here).

The pandera models are the single statement of what a valid parsed frame is; the asset
checks in ``checks.py`` turn the :class:`CheckOutcome` values computed here into Dagster
check results. Every function takes the parsed data of one partition and says whether it
passes, how badly it fails (``error`` or ``warn``; only the blocking schema checks hold
back the aggregates), and why.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

import pandera.polars as pa
import polars as pl
from pandera.engines.polars_engine import DateTime

from hr_assets.domain.transform import MAX_POSSIBLE_BPM, MIN_POSSIBLE_BPM, ParsedIntraday, ParsedSummary

# Defined with the status query that returns it; re-exported as the checks' input.
from hr_assets.warehouse.status import DayStats as DayStats

# Plausible heart rates for a wearable wearer: below 25 bpm is beyond documented athletic
# bradycardia, above 250 beyond any recorded adult maximum. Outside it: a sensor artefact.
PLAUSIBLE_MIN_BPM = 25
PLAUSIBLE_MAX_BPM = 250
# Fitbit's confidence field runs from 0 (no confidence) to 3 (high).
MAX_CONFIDENCE = 3
# Zone minutes are whole minutes per zone, rounded by the device: allow this many minutes of
# difference from the minutes that have readings before calling the summary inconsistent.
ZONE_MINUTES_TOLERANCE = 15
# How many failing rows a check shows in its metadata.
SAMPLE_ROWS = 10

Severity = Literal["warn", "error"]
USER_ID_PATTERN = r"^[a-z0-9_-]{1,64}$"


class IntradayFrame(pa.DataFrameModel):
    """A parsed intraday partition, ready to load."""

    user_id: str = pa.Field(str_matches=USER_ID_PATTERN)
    time: DateTime = pa.Field(dtype_kwargs={"time_unit": "us", "time_zone": "UTC"})
    bpm: pl.Int16 = pa.Field(ge=MIN_POSSIBLE_BPM, le=MAX_POSSIBLE_BPM)
    confidence: pl.Int16 = pa.Field(nullable=True, ge=0, le=MAX_CONFIDENCE)

    class Config:
        strict = True
        unique = ["user_id", "time"]  # noqa: RUF012 - pandera reads it as configuration


class SummaryFrame(pa.DataFrameModel):
    """A parsed daily summary as one row."""

    user_id: str = pa.Field(str_matches=USER_ID_PATTERN)
    date: pl.Date
    resting_heart_rate: pl.Int16 = pa.Field(nullable=True, ge=PLAUSIBLE_MIN_BPM, le=PLAUSIBLE_MAX_BPM)
    zone_minutes: pl.Int32 = pa.Field(ge=0, le=25 * 60)  # a local day lasts at most 25 hours

    class Config:
        strict = True


@dataclass(frozen=True)
class CheckOutcome:
    passed: bool
    severity: Severity
    description: str
    metadata: dict[str, Any] = field(default_factory=dict)


def _sample(frame: pl.DataFrame) -> str:
    return json.dumps(frame.head(SAMPLE_ROWS).to_dicts(), default=str)


def validate_frame(model: type[pa.DataFrameModel], frame: pl.DataFrame) -> CheckOutcome:
    """Validate against a pandera model; on failure, which rows failed which check."""
    try:
        model.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
        return CheckOutcome(
            False,
            "error",
            f"{cases.height} schema failure(s) against {model.__name__}",
            {"failures": cases.height, "failure_cases": _sample(cases.select(pl.all().cast(pl.String)))},
        )
    return CheckOutcome(True, "error", f"{frame.height} rows match {model.__name__}", {"rows": frame.height})


def intraday_schema(parsed: ParsedIntraday) -> CheckOutcome:
    return validate_frame(IntradayFrame, parsed.readings)


def zone_minutes(parsed: ParsedSummary) -> int:
    """Minutes in the default heart-rate zones (a zone without ``minutes`` counts none)."""
    return sum(int(zone.get("minutes") or 0) for zone in parsed.heart_rate_zones)


def summary_frame(parsed: ParsedSummary) -> pl.DataFrame:
    minutes = zone_minutes(parsed)
    return pl.DataFrame(
        {
            "user_id": [parsed.user_id],
            "date": [parsed.day],
            "resting_heart_rate": [parsed.resting_heart_rate],
            "zone_minutes": [minutes],
        },
        schema={"user_id": pl.String, "date": pl.Date, "resting_heart_rate": pl.Int16, "zone_minutes": pl.Int32},
    )


def summary_schema(parsed: ParsedSummary) -> CheckOutcome:
    return validate_frame(SummaryFrame, summary_frame(parsed))


def intraday_plausibility(parsed: ParsedIntraday) -> CheckOutcome:
    """bpm within the plausible band, no repeated timestamp, every reading inside the local day."""
    readings = parsed.readings
    implausible = readings.filter(~pl.col("bpm").is_between(PLAUSIBLE_MIN_BPM, PLAUSIBLE_MAX_BPM))
    duplicated = readings.filter(pl.col("time").is_duplicated())
    outside = readings.filter(~pl.col("time").is_between(parsed.window_start, parsed.window_end, closed="left"))
    metadata: dict[str, Any] = {
        "implausible_bpm": implausible.height,
        "duplicate_timestamps": duplicated.height,
        "outside_local_day": outside.height,
    }
    if duplicated.height or outside.height:
        bad = pl.concat([duplicated, outside])
        return CheckOutcome(
            False,
            "error",
            "repeated timestamps or readings outside the local day",
            {**metadata, "sample": _sample(bad)},
        )
    if implausible.height:
        return CheckOutcome(
            False,
            "warn",
            f"{implausible.height} reading(s) outside {PLAUSIBLE_MIN_BPM}..{PLAUSIBLE_MAX_BPM} bpm",
            {**metadata, "sample": _sample(implausible)},
        )
    return CheckOutcome(True, "warn", "all readings plausible", metadata)


def coverage(covered_seconds: int, day_seconds: int, threshold: float) -> CheckOutcome:
    """Share of the local day with readings; warns below ``threshold``."""
    share = covered_seconds / day_seconds if day_seconds else 0.0
    metadata = {
        "coverage": round(share, 4),
        "covered_seconds": covered_seconds,
        "day_seconds": day_seconds,
        "threshold": threshold,
    }
    if share < threshold:
        return CheckOutcome(False, "warn", f"readings cover {share:.0%} of the day (< {threshold:.0%})", metadata)
    return CheckOutcome(True, "warn", f"readings cover {share:.0%} of the day", metadata)


def quarantine(quarantined: pl.DataFrame) -> CheckOutcome:
    """Records refused by the parser; warns when there are any."""
    if quarantined.height:
        reasons = quarantined.select(pl.col("reason").str.replace(r"^record \d+: ", "")).to_series()
        return CheckOutcome(
            False,
            "warn",
            f"{quarantined.height} record(s) quarantined",
            {
                "quarantined": quarantined.height,
                "sample": _sample(quarantined),
                "reasons": json.dumps(reasons.value_counts(sort=True).head(SAMPLE_ROWS).rows()),
            },
        )
    return CheckOutcome(True, "warn", "no record quarantined", {"quarantined": 0})


def summary_consistency(parsed: ParsedSummary, stats: DayStats | None) -> CheckOutcome:
    """Zone minutes against the minutes that have readings; resting heart rate within the day's range."""
    minutes = zone_minutes(parsed)
    metadata: dict[str, Any] = {"zone_minutes": minutes, "resting_heart_rate": parsed.resting_heart_rate}
    if stats is None:
        return CheckOutcome(True, "warn", "no intraday readings loaded for this day to compare with", metadata)
    metadata.update(minutes_with_readings=stats.minutes_with_readings, min_bpm=stats.min_bpm, max_bpm=stats.max_bpm)
    problems = []
    if parsed.heart_rate_zones and abs(minutes - stats.minutes_with_readings) > ZONE_MINUTES_TOLERANCE:
        problems.append(f"zone minutes {minutes} vs {stats.minutes_with_readings} minutes with readings")
    resting = parsed.resting_heart_rate
    low, high = stats.min_bpm, stats.max_bpm
    if resting is not None and low is not None and high is not None and not low <= resting <= high:
        problems.append(f"resting heart rate {resting} outside the day's range {low}..{high}")
    if problems:
        return CheckOutcome(False, "warn", "; ".join(problems), metadata)
    if resting is not None and (low is None or high is None):
        # Loads recorded before the bpm range was (migration 0005): say what was not compared.
        return CheckOutcome(
            True,
            "warn",
            "zone minutes agree with the intraday readings; resting heart rate not compared: the day's intraday "
            "load recorded no bpm range (re-load the day to record one)",
            metadata,
        )
    return CheckOutcome(True, "warn", "summary agrees with the intraday readings", metadata)
