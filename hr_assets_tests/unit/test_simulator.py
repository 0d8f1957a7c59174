"""Tests of the heart-rate simulator: determinism, physiology, realism, sampling, DST, summaries.

Expected values are recomputed here from the parsed payloads (or from first principles such
as Fitbit's zone percentages), never copied from the simulator's output.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import replace
from datetime import date, timedelta
from fractions import Fraction
from itertools import pairwise
from typing import Any

import numpy as np
import pytest

from hr_assets.sources.base import Source, SourceError, UserProfile
from hr_assets.sources.simulator import (
    SimulatorSource,
    physiology_for,
    resting_heart_rate,
    simulate_day,
)

BERLIN = "Europe/Berlin"
NEW_YORK = "America/New_York"
SYDNEY = "Australia/Sydney"
# Two weeks without a DST change in either zone.
FORTNIGHT = [date(2025, 5, 1) + timedelta(days=k) for k in range(14)]
ZONE_NAMES = ["Out of Range", "Fat Burn", "Cardio", "Peak"]
# Fitbit's default zones: Fat Burn from 50 %, Cardio from 70 %, Peak from 85 % of max HR.
FITBIT_ZONE_FRACTIONS = (0.50, 0.70, 0.85)
TIME_PATTERN = re.compile(r"\d\d:\d\d:\d\d")
# The simulator promises 01:00-05:00 is always asleep and 10:00-20:00 awake (its bedtime is
# 21:30-00:45, wake-up 05:30-10:30).
CORE_SLEEP = (1 * 3600, 5 * 3600)
DAYTIME = (10 * 3600, 20 * 3600)


def dataset(payload: bytes) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(payload)["activities-heart-intraday"]["dataset"]
    return rows


def seconds_and_values(payload: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Local wall-clock seconds of the day and bpm of each reading, in payload order."""
    rows = dataset(payload)
    seconds = np.array(
        [int(r["time"][:2]) * 3600 + int(r["time"][3:5]) * 60 + int(r["time"][6:]) for r in rows],
        dtype=np.int64,
    )
    return seconds, np.array([r["value"] for r in rows], dtype=np.int64)


def summary_value(payload: bytes) -> dict[str, Any]:
    entries = json.loads(payload)["activities-heart"]
    assert len(entries) == 1
    value: dict[str, Any] = entries[0]["value"]
    return value


def minute_means(seconds: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Mean bpm per distinct real minute: a time going backwards starts a new pass (fall-back)."""
    passes = np.concatenate([[0], np.cumsum(np.diff(seconds) < 0)])
    keys = passes * 1440 + seconds // 60
    unique, inverse = np.unique(keys, return_inverse=True)
    sums = np.bincount(inverse, weights=values.astype(np.float64))
    return sums / np.bincount(inverse, minlength=unique.size)


def zone_mins(max_hr: int) -> list[int]:
    """Fitbit's zone minimums for this max HR, rounding half a bpm up (exact fractions)."""
    return [math.floor(Fraction(f) * max_hr + Fraction(1, 2)) for f in ("0.50", "0.70", "0.85")]


# --- Determinism ------------------------------------------------------------------------------

CASES = [
    (23, date(2025, 5, 3), BERLIN, False),
    (23, date(2025, 5, 4), BERLIN, False),
    (7, date(2025, 11, 2), NEW_YORK, False),
    (7, date(2025, 3, 9), NEW_YORK, True),
    (2**40 + 3, date(2024, 2, 29), SYDNEY, False),
    (-5, date(2025, 5, 3), BERLIN, False),
]


def test_same_arguments_give_identical_bytes_whatever_the_call_order() -> None:
    first = [simulate_day(s, d, tz, dense=dense) for s, d, tz, dense in CASES]
    # Other days generated in between, the cases in reverse, some twice.
    simulate_day(99, date(2025, 1, 1), "UTC")
    again = [simulate_day(s, d, tz, dense=dense) for s, d, tz, dense in reversed(CASES)][::-1]
    third = [simulate_day(s, d, tz, dense=dense) for s, d, tz, dense in CASES[::2]]
    for a, b in zip(first, again, strict=True):
        assert a.intraday == b.intraday
        assert a.summary == b.summary
        assert a.origin == b.origin
    for a, c in zip(first[::2], third, strict=True):
        assert a.intraday == c.intraday
        assert a.summary == c.summary


def test_different_seeds_and_dates_give_different_days() -> None:
    day = date(2025, 5, 3)
    by_seed = {simulate_day(seed, day, BERLIN).intraday for seed in range(10)}
    by_date = {simulate_day(1, day + timedelta(days=k), BERLIN).intraday for k in range(10)}
    assert len(by_seed) == 10
    assert len(by_date) == 10
    # The seed and the big-seed/negative-seed encodings must not collide either.
    assert simulate_day(2**32 + 1, day, BERLIN).intraday != simulate_day(1, day, BERLIN).intraday
    assert simulate_day(-1, day, BERLIN).intraday != simulate_day(1, day, BERLIN).intraday


def test_origin_names_the_generator_and_seed() -> None:
    assert simulate_day(23, date(2025, 5, 3), BERLIN).origin == "simulator v1 seed=23"
    assert "seed=23" in simulate_day(23, date(2025, 5, 3), BERLIN, dense=True).origin


def test_seed_outside_bigint_range_is_rejected() -> None:
    with pytest.raises(ValueError, match="seed"):
        simulate_day(2**63, date(2025, 5, 3), BERLIN)


# --- Physiology -------------------------------------------------------------------------------


def test_physiology_depends_on_the_seed_only_and_is_plausible() -> None:
    people = [physiology_for(seed) for seed in range(300)]
    assert people[17] == physiology_for(17)
    for p in people:
        assert 50 <= p.resting_hr <= 75
        assert 20 <= p.age <= 70
        # Tanaka: 208 - 0.7 * age, with a bounded individual scatter.
        assert abs(p.max_hr - (208 - 0.7 * p.age)) <= 8.5
        assert 0.0 <= p.fitness <= 1.0
        assert p.max_hr - p.resting_hr > 60
        assert 40 <= p.weight_kg <= 160
    assert len(set(people)) == len(people)
    assert len({p.resting_hr for p in people}) >= 15
    assert len({p.max_hr for p in people}) >= 20
    # Fitter people have lower resting heart rates.
    fitness = np.array([p.fitness for p in people])
    resting = np.array([p.resting_hr for p in people])
    assert np.corrcoef(fitness, resting)[0, 1] < -0.5


# --- A realistic day --------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_sleep_is_lower_than_the_waking_day(seed: int) -> None:
    for day in FORTNIGHT[:4]:
        seconds, values = seconds_and_values(simulate_day(seed, day, BERLIN, dense=True).intraday)
        asleep = values[(seconds >= CORE_SLEEP[0]) & (seconds < CORE_SLEEP[1])]
        awake = values[(seconds >= DAYTIME[0]) & (seconds < DAYTIME[1])]
        assert asleep.mean() + 5 < awake.mean()


@pytest.mark.parametrize("seed", [1, 2, 3, 5, 8])
def test_some_days_have_a_workout_reaching_cardio_and_some_do_not(seed: int) -> None:
    cardio = FITBIT_ZONE_FRACTIONS[1] * physiology_for(seed).max_hr
    reached = []
    for day in FORTNIGHT:
        seconds, values = seconds_and_values(simulate_day(seed, day, BERLIN).intraday)
        reached.append(bool(minute_means(seconds, values).max() >= cardio))
    assert 0 < sum(reached) < len(reached)


def test_heart_rate_recovers_after_a_workout() -> None:
    # Averaged over every workout day of a few users: after the last minute in Cardio or
    # above, the heart rate keeps falling towards the daytime baseline.
    after: list[list[float]] = []
    for seed in (1, 2, 3, 5, 8):
        cardio = FITBIT_ZONE_FRACTIONS[1] * physiology_for(seed).max_hr
        for day in FORTNIGHT:
            seconds, values = seconds_and_values(simulate_day(seed, day, BERLIN).intraday)
            # Minutes of the day (the watch may have gaps, so index by minute, not by position).
            means = np.full(1440, np.nan)
            minutes = np.unique(seconds // 60)
            means[minutes] = minute_means(seconds, values)
            hard = np.flatnonzero(means >= cardio)
            if hard.size and hard[-1] + 31 < means.size:
                end = hard[-1]
                after.append(
                    [
                        np.nanmean(means[end + 1 : end + 3]),
                        np.nanmean(means[end + 8 : end + 11]),
                        np.nanmean(means[end + 25 : end + 31]),
                    ]
                )
    assert len(after) >= 10
    soon, later, much_later = np.nanmean(after, axis=0)
    assert soon > later > much_later


def test_every_value_is_a_plausible_int() -> None:
    for seed in range(6):
        for day in FORTNIGHT[:3]:
            for row in dataset(simulate_day(seed, day, NEW_YORK).intraday):
                assert type(row["value"]) is int
                assert 1 <= row["value"] <= 250
                assert 30 <= row["value"] <= 230
                assert TIME_PATTERN.fullmatch(row["time"])


# --- Sampling ---------------------------------------------------------------------------------


def test_readings_are_1_to_15_seconds_apart_except_off_wrist_gaps() -> None:
    long_gaps = 0
    for seed in (1, 2, 3):
        for day in FORTNIGHT:
            seconds, _ = seconds_and_values(simulate_day(seed, day, BERLIN).intraday)
            steps = np.diff(seconds)
            gaps = steps[steps > 15]
            # Anything longer than 15 s is the watch off the wrist: a shower or a charge, never
            # a few missing seconds, and only a couple of times a day.
            assert steps.min() >= 1
            assert (gaps >= 10 * 60).all()
            assert gaps.size <= 3
            long_gaps += int((gaps >= 30 * 60).sum())
            # A day's readings are mostly well spread: at least one every 15 s while worn.
            assert seconds.size > 5000
    assert long_gaps >= 3


def test_dense_day_has_one_reading_every_second() -> None:
    seconds, _ = seconds_and_values(simulate_day(4, date(2025, 6, 1), NEW_YORK, dense=True).intraday)
    assert seconds.tolist() == list(range(86400))


def test_a_watch_reads_the_same_heart_as_dense_mode() -> None:
    day = date(2025, 6, 1)
    sparse = dict(zip(*seconds_and_values(simulate_day(4, day, NEW_YORK).intraday), strict=True))
    _, dense_v = seconds_and_values(simulate_day(4, day, NEW_YORK, dense=True).intraday)
    assert 0 < len(sparse) < 86400
    assert all(dense_v[s] == v for s, v in sparse.items())


def test_a_power_saving_watch_keeps_the_first_reading_of_each_interval() -> None:
    day = date(2025, 6, 1)
    every_second = dict(zip(*seconds_and_values(simulate_day(4, day, NEW_YORK).intraday), strict=True))
    user = UserProfile(user_id="u1", timezone=NEW_YORK, seed=4, source_config={"interval_seconds": 600})
    seconds, values = seconds_and_values(SimulatorSource().fetch_day(user, day).intraday)
    # The first reading the ordinary watch took in each 10-minute window, with its value.
    first_per_window: dict[int, int] = {}
    for second in sorted(every_second):
        first_per_window.setdefault(second // 600, second)
    assert seconds.tolist() == sorted(first_per_window.values())
    assert values.tolist() == [every_second[s] for s in seconds.tolist()]
    assert 0 < len(seconds) <= 144
    with pytest.raises(ValueError, match="interval_seconds"):
        simulate_day(4, day, NEW_YORK, interval_seconds=0)


# --- Daylight saving time ---------------------------------------------------------------------

DST_DAYS = [
    (NEW_YORK, date(2025, 6, 1), 86400, None),
    ("Asia/Kolkata", date(2025, 3, 30), 86400, None),
    (NEW_YORK, date(2025, 3, 9), 82800, "spring"),
    (NEW_YORK, date(2025, 11, 2), 90000, "fall"),
    (BERLIN, date(2025, 3, 30), 82800, "spring"),
    (BERLIN, date(2025, 10, 26), 90000, "fall"),
    (SYDNEY, date(2025, 4, 6), 90000, "fall"),
    (SYDNEY, date(2025, 10, 5), 82800, "spring"),
]
# The local hour that is skipped or repeated: 02:00 in New York, Berlin and Sydney (Berlin's
# and Sydney's fall-back go 03:00 -> 02:00, New York's 02:00 -> 01:00).
SHIFTED_HOUR = {
    (NEW_YORK, "spring"): "02",
    (NEW_YORK, "fall"): "01",
    (BERLIN, "spring"): "02",
    (BERLIN, "fall"): "02",
    (SYDNEY, "spring"): "02",
    (SYDNEY, "fall"): "02",
}


@pytest.mark.parametrize(("tz", "day", "expected", "kind"), DST_DAYS)
def test_dense_day_lasts_from_local_midnight_to_local_midnight(
    tz: str, day: date, expected: int, kind: str | None
) -> None:
    times = [r["time"] for r in dataset(simulate_day(11, day, tz, dense=True).intraday)]
    assert len(times) == expected
    assert times[0] == "00:00:00"
    assert times[-1] == "23:59:59"
    backwards = [i for i in range(1, len(times)) if times[i] < times[i - 1]]
    counts: dict[str, int] = {}
    for t in times:
        counts[t] = counts.get(t, 0) + 1
    if kind is None:
        assert backwards == []
        assert set(counts.values()) == {1}
        return
    hour = SHIFTED_HOUR[(tz, kind)]
    if kind == "spring":
        assert backwards == []
        assert not any(t.startswith(hour + ":") for t in times)
        assert len(counts) == 82800
    else:
        # The repeated hour is there twice, in order: the clock goes back once, to its start.
        assert len(backwards) == 1
        assert times[backwards[0] - 1] == f"{hour}:59:59"
        assert times[backwards[0]] == f"{hour}:00:00"
        repeated = {t for t, c in counts.items() if c == 2}
        assert repeated == {f"{hour}:{m:02d}:{s:02d}" for m in range(60) for s in range(60)}
        assert set(counts.values()) == {1, 2}


@pytest.mark.parametrize(("tz", "day", "kind"), [(tz, d, k) for tz, d, _, k in DST_DAYS if k])
def test_watch_readings_follow_the_local_clock_on_dst_days(tz: str, day: date, kind: str) -> None:
    hour = SHIFTED_HOUR[(tz, kind)]
    for seed in range(1, 6):
        times = [r["time"] for r in dataset(simulate_day(seed, day, tz).intraday)]
        backwards = sum(1 for a, b in pairwise(times) if b < a)
        in_hour = [t for t in times if t.startswith(hour + ":")]
        if kind == "spring":
            assert in_hour == []
            assert backwards == 0
        elif in_hour:
            # The readings of the repeated hour come in two passes, earlier pass first.
            assert backwards == 1
        else:  # the watch was off the wrist all night
            assert backwards == 0


# --- Daily summary ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seed", "day", "tz", "dense"),
    [
        (1, date(2025, 5, 4), BERLIN, False),
        (5, date(2025, 5, 2), BERLIN, False),
        (8, date(2025, 5, 3), BERLIN, False),
        (3, date(2025, 5, 5), NEW_YORK, True),
        (2, date(2025, 11, 2), NEW_YORK, False),
        (2, date(2025, 10, 26), BERLIN, True),
        (4, date(2025, 3, 9), NEW_YORK, False),
    ],
)
def test_zone_minutes_recomputed_from_the_readings(seed: int, day: date, tz: str, dense: bool) -> None:
    payloads = simulate_day(seed, day, tz, dense=dense)
    means = minute_means(*seconds_and_values(payloads.intraday))
    zones = summary_value(payloads.summary)["heartRateZones"]
    assert [z["name"] for z in zones] == ZONE_NAMES
    assert sum(z["minutes"] for z in zones) == means.size
    fat_burn, cardio, peak = zone_mins(physiology_for(seed).max_hr)
    expected = [
        int(((means >= lo) & (means < hi)).sum())
        for lo, hi in [(0, fat_burn), (fat_burn, cardio), (cardio, peak), (peak, 1000)]
    ]
    assert [z["minutes"] for z in zones] == expected


@pytest.mark.parametrize("seed", [1, 2, 3, 8, 13])
def test_zone_boundaries_are_fitbit_defaults(seed: int) -> None:
    max_hr = physiology_for(seed).max_hr
    zones = summary_value(simulate_day(seed, date(2025, 5, 3), BERLIN).summary)["heartRateZones"]
    for zone, fraction in zip(zones[1:], FITBIT_ZONE_FRACTIONS, strict=True):
        assert abs(zone["min"] - fraction * max_hr) <= 0.5 + 1e-9
    assert [z["min"] for z in zones[1:]] == zone_mins(max_hr)
    assert zones[0]["min"] == 30
    assert zones[-1]["max"] == 220
    for lower, upper in pairwise(zones):
        assert lower["max"] == upper["min"]  # contiguous, as in Fitbit's payloads
    for zone in zones:
        assert type(zone["min"]) is int
        assert type(zone["max"]) is int
        assert zone["min"] < zone["max"]


def test_calories_are_plausible() -> None:
    for seed in range(8):
        for day in FORTNIGHT[:3]:
            zones = summary_value(simulate_day(seed, day, BERLIN).summary)["heartRateZones"]
            for zone in zones:
                assert isinstance(zone["caloriesOut"], float)
                assert zone["caloriesOut"] == round(zone["caloriesOut"], 5)
                assert (zone["caloriesOut"] > 0) == (zone["minutes"] > 0)
                if zone["minutes"]:
                    # Between sitting still (~0.8 kcal/min) and a hard effort (~25 kcal/min).
                    assert 0.7 <= zone["caloriesOut"] / zone["minutes"] <= 25
            assert 1000 < sum(z["caloriesOut"] for z in zones) < 6000


def test_resting_heart_rate_comes_from_sleep() -> None:
    present = 0
    for seed in range(6):
        for day in FORTNIGHT[:5]:
            payloads = simulate_day(seed, day, BERLIN)
            seconds, values = seconds_and_values(payloads.intraday)
            resting = summary_value(payloads.summary).get("restingHeartRate")
            night = values[(seconds >= CORE_SLEEP[0]) & (seconds < CORE_SLEEP[1])]
            if resting is None:
                continue
            present += 1
            assert type(resting) is int
            assert night.min() <= resting <= np.median(night)
            assert resting < values[(seconds >= DAYTIME[0]) & (seconds < DAYTIME[1])].mean()
            assert abs(resting - physiology_for(seed).resting_hr) <= 6
    assert present >= 25


def test_resting_heart_rate_is_absent_when_the_night_was_not_recorded() -> None:
    absent = 0
    for seed in (1, 2, 8):
        for day in FORTNIGHT:
            payloads = simulate_day(seed, day, BERLIN)
            seconds, _ = seconds_and_values(payloads.intraday)
            night_readings = int(((seconds >= CORE_SLEEP[0]) & (seconds < CORE_SLEEP[1])).sum())
            if "restingHeartRate" not in summary_value(payloads.summary):
                absent += 1
                # Fewer than 4 h of sleep: the watch was off the wrist during the core night.
                assert night_readings == 0
            else:
                assert night_readings > 0
    assert absent >= 1


def test_resting_heart_rate_needs_four_hours_of_sleep_minutes() -> None:
    assert resting_heart_rate(np.array([], dtype=np.float64)) is None
    assert resting_heart_rate(np.full(239, 55.0)) is None
    assert resting_heart_rate(np.full(240, 55.0)) == 55
    # A low percentile: a third of the night at 50 bpm, the rest at 60.
    assert resting_heart_rate(np.array([50.0] * 100 + [60.0] * 200)) == 50
    # Not the minimum: a few restless minutes' artefacts at 40 bpm do not drag it down.
    assert resting_heart_rate(np.array([40.0] * 5 + [58.0] * 295)) == 58
    ramp = np.linspace(48.0, 72.0, 480)
    assert 48 <= (resting_heart_rate(ramp) or 0) <= 52


# --- Payload shapes ---------------------------------------------------------------------------


@pytest.mark.parametrize("dense", [False, True])
def test_payloads_have_exactly_the_fitbit_shape(dense: bool) -> None:
    day = date(2025, 5, 6)
    payloads = simulate_day(3, day, BERLIN, dense=dense)
    for payload in (payloads.intraday, payloads.summary):
        # Compact separators, and the key order survives a round trip.
        assert payload == json.dumps(json.loads(payload), separators=(",", ":")).encode()
    intraday = json.loads(payloads.intraday)
    assert list(intraday) == ["activities-heart-intraday"]
    body = intraday["activities-heart-intraday"]
    assert list(body) == ["dataset", "datasetInterval", "datasetType"]
    assert body["datasetInterval"] == 1
    assert body["datasetType"] == "second"
    assert all(list(row) == ["time", "value"] for row in body["dataset"])

    summary = json.loads(payloads.summary)
    assert list(summary) == ["activities-heart"]
    (entry,) = summary["activities-heart"]
    assert list(entry) == ["dateTime", "value"]
    assert entry["dateTime"] == "2025-05-06"
    assert list(entry["value"]) == ["customHeartRateZones", "heartRateZones", "restingHeartRate"]
    assert entry["value"]["customHeartRateZones"] == []
    for zone in entry["value"]["heartRateZones"]:
        assert list(zone) == ["caloriesOut", "max", "min", "minutes", "name"]


# --- The source -------------------------------------------------------------------------------


def test_simulator_source_uses_the_users_seed_timezone_and_density() -> None:
    source: Source = SimulatorSource()
    assert source.kind == "simulated"
    day = date(2025, 5, 3)
    user = UserProfile(user_id="u1", timezone=NEW_YORK, seed=23)
    assert source.fetch_day(user, day) == simulate_day(23, day, NEW_YORK)
    dense_user = UserProfile(user_id="u2", timezone=BERLIN, seed=5, source_config={"dense": True})
    assert source.fetch_day(dense_user, day) == simulate_day(5, day, BERLIN, dense=True)
    assert source.available_dates(user) is None


@pytest.mark.parametrize("dense", [False, True])
def test_asking_for_one_payload_gives_the_same_bytes_and_leaves_the_other_empty(dense: bool) -> None:
    day = date(2025, 3, 30)  # Berlin's spring-forward day: a 23-hour local day
    whole = simulate_day(7, day, BERLIN, dense=dense)
    summary_only = SimulatorSource().fetch_day(
        UserProfile(user_id="u1", timezone=BERLIN, seed=7, source_config={"dense": dense}), day, only="summary"
    )
    assert summary_only == replace(whole, intraday=b"")
    assert simulate_day(7, day, BERLIN, dense=dense, only="intraday") == replace(whole, summary=b"")


@pytest.mark.parametrize(
    ("user", "message"),
    [
        (UserProfile(user_id="u1", timezone=BERLIN, seed=None), "no seed"),
        (UserProfile(user_id="u1", timezone=BERLIN, seed=1, source_config={"dense": "yes"}), "dense"),
        (UserProfile(user_id="u1", timezone=BERLIN, seed=1, source_config={"interval_seconds": 0}), "interval_seconds"),
        (UserProfile(user_id="u1", timezone=BERLIN, seed=1, source_config={"interval_seconds": "600"}), "'600'"),
        (UserProfile(user_id="u1", timezone=BERLIN, seed=1, source_config={"interval_seconds": True}), "True"),
        (UserProfile(user_id="u1", timezone="Mars/Olympus_Mons", seed=1), "Mars"),
        (UserProfile(user_id="u1", timezone=BERLIN, seed=2**64), "seed"),
    ],
)
def test_simulator_source_reports_bad_settings(user: UserProfile, message: str) -> None:
    with pytest.raises(SourceError, match=message) as raised:
        SimulatorSource().fetch_day(user, date(2025, 5, 3))
    assert "u1" in str(raised.value)
