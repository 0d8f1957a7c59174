"""A deterministic, realistic heart-rate simulator that speaks the Fitbit Web API's shapes.

Everything is a pure function of ``(seed, local date, timezone, dense)``: the user's physiology
comes from the seed alone, a night's sleep from ``(seed, the evening's date)`` and the day's
activities, noise and sampling from ``(seed, date)``. Random numbers come from numpy
``Generator`` objects seeded with fixed-width entropy words, never from global state or
``hash()``, so a day's payloads are byte-identical whatever else was generated before.

The day is modelled on real instants (UTC seconds from local midnight to the next local
midnight, so 23, 24 or 25 hours long) and rendered as local wall-clock ``HH:MM:SS``; a DST
fall-back therefore repeats an hour and a spring-forward never shows the skipped one.

Heart rate per second is a blend of a sleep curve (a nightly dip with REM bumps) and an awake
curve (a circadian swing plus a slow wander), plus the response to activities (walks, short
bursts, a workout on some days) through a lag filter whose recovery decays exponentially, plus
sensor noise. A watch samples that curve every 1-15 s (densest when active) and misses the
periods it is off the wrist; ``dense=True`` samples every second instead.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cache
from itertools import pairwise
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import numpy.typing as npt

from hr_assets.sources.base import DayPayloads, PayloadKind, SourceError, UserProfile

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

# Bump when a change alters the payloads for an existing (seed, date): it is part of `origin`,
# so rows loaded from an older simulator can be told apart.
SIMULATOR_VERSION = "v1"

# --- Random streams ---------------------------------------------------------------------------
# Each generator is seeded with exactly four 32-bit words [stream, seed low, seed high, ordinal].
# A fixed width matters: numpy's SeedSequence treats [a, b] like [a, b, 0] and splits a big int
# into several words, so variable-length entropy lists can collide.
_PHYSIOLOGY_STREAM = 1
_DAY_STREAM = 2
_NIGHT_STREAM = 3
# users.seed is a PostgreSQL bigint.
SEED_MIN = -(2**63)
SEED_MAX = 2**63 - 1
_WORD = 0xFFFF_FFFF

# --- Physiology -------------------------------------------------------------------------------
# Adult ages the simulated users are drawn from.
AGE_MIN = 20
AGE_MAX = 70
# Resting heart rate range asked for by the product issue (healthy adults wearing a tracker).
RESTING_HR_MIN = 50
RESTING_HR_MAX = 75
# Tanaka, Monahan & Seals (2001), J Am Coll Cardiol 37(1):153-156: HRmax = 208 - 0.7 * age.
TANAKA_INTERCEPT = 208.0
TANAKA_AGE_SLOPE = 0.7
# Individuals scatter around the Tanaka line (its SD is ~7-10 bpm); kept narrower and bounded
# so that zone boundaries stay sensible.
MAX_HR_SCATTER_SD = 4.0
MAX_HR_SCATTER_LIMIT = 8.0

# --- Plausible values -------------------------------------------------------------------------
# Readings are clamped to what a wrist sensor reports for a living adult; the loader rejects
# anything outside 1..250, so this range keeps well inside it.
HR_FLOOR = 35
HR_CEILING = 220

# --- Fitbit heart-rate zones ------------------------------------------------------------------
# Fitbit's default heart-rate zones (Fitbit Help, "What should I know about heart-rate zones?"):
# Fat Burn from 50 %, Cardio from 70 %, Peak from 85 % of the maximum heart rate.
# Kept as integer percentages so that boundaries round exactly (0.85 * 190 is 161.4999... in
# floating point, but 85 % of 190 is 161.5, which rounds to 162).
FAT_BURN_PERCENT = 50
CARDIO_PERCENT = 70
PEAK_PERCENT = 85
# Outer bounds of the zone list, as in the Fitbit Web API's "Get Heart Rate Time Series"
# example response (Out of Range starts at 30, Peak ends at 220). As there, a zone's max is the
# next zone's min: a minute belongs to the highest zone whose min it reaches.
OUT_OF_RANGE_MIN_BPM = 30
PEAK_MAX_BPM = 220
ZONE_NAMES = ("Out of Range", "Fat Burn", "Cardio", "Peak")

# --- Resting heart rate -----------------------------------------------------------------------
# Fitbit does not publish its algorithm and omits restingHeartRate on days with too little data.
# We take a low percentile of the sleep minutes, and need at least four hours of them.
MIN_SLEEP_MINUTES = 4 * 60
RESTING_PERCENTILE = 10.0

# --- Energy expenditure -----------------------------------------------------------------------
# Keytel et al. (2005), J Sports Sci 23(3):289-297, kJ/min from heart rate, weight and age
# (without VO2max): coefficients (intercept, hr, weight, age) per sex.
KEYTEL_MALE = (-55.0969, 0.6309, 0.1988, 0.2017)
KEYTEL_FEMALE = (-20.4022, 0.4472, -0.1263, 0.074)
KJ_PER_KCAL = 4.184
# Mifflin-St Jeor (1990) basal metabolic rate, kcal/day: 10 w + 6.25 h - 5 a + s.
MIFFLIN_MALE_OFFSET = 5.0
MIFFLIN_FEMALE_OFFSET = -161.0
# Keytel's regression is fitted on exercise and grossly overestimates at rest. The FLEX-HR
# method (Spurr et al. 1988, Am J Clin Nutr 48:552-559) uses resting expenditure below a
# "flex" heart rate, midway between the highest resting and the lowest exercise heart rate,
# and the regression above it. Ours is this many bpm above the user's sitting level.
FLEX_ABOVE_SITTING_BPM = 10.0
# Below the flex point a minute burns BMR times the usual "sedentary" activity factor.
SEDENTARY_FACTOR = 1.2
MINUTES_PER_DAY = 1440
# Fitbit's caloriesOut carries a handful of decimals.
CALORIES_DECIMALS = 5

# --- Sleep ------------------------------------------------------------------------------------
# Times are wall-clock seconds relative to the local midnight that ends the evening (so 23:00
# is -3600). Bedtime is 23:00 shifted by the user's chronotype and the night's whim, bounded so
# that 01:00-05:00 is always asleep.
USUAL_BEDTIME_S = -3600.0
BEDTIME_EARLIEST_S = -9000.0  # 21:30
BEDTIME_LATEST_S = 2700.0  # 00:45
BEDTIME_NIGHTLY_SD_S = 1800.0
WAKE_EARLIEST_S = 19800.0  # 05:30
WAKE_LATEST_S = 37800.0  # 10:30
SLEEP_NIGHTLY_SD_S = 2400.0
SLEEP_MIN_S = 5.75 * 3600
SLEEP_MAX_S = 9.5 * 3600
# Sleep heart rate: lowest in the middle of the night (U-shaped), a few bpm up in REM, which
# fills the end of each ~90 min cycle and grows through the night (sleep physiology textbooks).
SLEEP_NADIR_BELOW_RESTING = 2.0
SLEEP_U_AMPLITUDE = 6.0
SLEEP_CYCLE_S = 5400.0
REM_SHARE_FIRST = 0.12
REM_SHARE_GROWTH = 0.18
REM_BUMP_BPM = 4.0
# Falling asleep and waking are gradual: the sleep/awake blend ramps over this window.
SLEEP_TRANSITION_S = 20 * 60

# --- Awake baseline ---------------------------------------------------------------------------
# Sitting awake is 10-22 bpm above resting (more for the unfit); a circadian swing peaks in
# the late afternoon; a slow wander (posture, meals, stress) moves it a few bpm.
CIRCADIAN_AMPLITUDE_BPM = 4.0
CIRCADIAN_PEAK_S = 16 * 3600
AWAKE_WANDER_KNOT_S = 600
AWAKE_WANDER_SD = 2.5
SLEEP_WANDER_KNOT_S = 1200
SLEEP_WANDER_SD = 1.0

# --- Activities -------------------------------------------------------------------------------
# Targets are fractions of max HR, placed relative to Fitbit's zones: walks and short bursts
# stay below Cardio, workouts reach Cardio or Peak.
WALK_TARGET = (0.50, 0.60)
WALK_MINUTES = (6.0, 30.0)
BURST_TARGET = (0.42, 0.55)
BURST_SECONDS = (20.0, 150.0)
BURSTS_PER_DAY = 25.0
WARMUP_TARGET = (0.58, 0.65)
STEADY_TARGET = (0.74, 0.86)
INTERVAL_HIGH_TARGET = (0.88, 0.93)
INTERVAL_LOW_TARGET = (0.66, 0.72)
COOLDOWN_TARGET = 0.55
# Nothing strenuous right after waking or just before bed.
ACTIVITY_AFTER_WAKE_S = 15 * 60
ACTIVITY_BEFORE_BED_S = 30 * 60
# Heart-rate kinetics: a quick rise (~30 s), a fast exponential recovery (40-110 s, faster when
# fit; Cole et al. 1999, NEJM 341:1351 for recovery as a fitness marker) and a slow component
# (EPOC) that takes minutes. The filter runs on a coarse grid; per-second values interpolate.
ONSET_TAU_S = 30.0
SLOW_RISE_TAU_S = 180.0
SLOW_DECAY_TAU_S = 480.0
SLOW_WEIGHT = 0.3
KINETICS_STEP_S = 5

# --- Sampling and wear ------------------------------------------------------------------------
# As in Fitbit intraday "1sec" exports: readings every 5-15 s at rest (mostly near 5 s), every
# 1-3 s when active.
REST_INTERVAL_S = (5, 15)
ACTIVE_INTERVAL_S = (1, 3)
# Response (fraction of heart-rate reserve) at which the watch samples as densely as it can.
FULLY_ACTIVE_RESPONSE = 0.35
# Off the wrist: charging (30-90 min) on some days, a shower on others, and now and then a
# watch left on the charger overnight (which is what costs a day its restingHeartRate).
CHARGE_PROBABILITY = 0.35
CHARGE_MINUTES = (30.0, 90.0)
SHOWER_PROBABILITY = 0.4
SHOWER_MINUTES = (10.0, 25.0)
NIGHT_NOT_WORN_PROBABILITY = 0.04
GAP_PLACEMENT_TRIES = 20

SECONDS_PER_DAY = 86400
_UNIX_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def _rng(stream: int, seed: int, ordinal: int = 0) -> np.random.Generator:
    if not SEED_MIN <= seed <= SEED_MAX:
        raise ValueError(f"seed {seed} is outside the bigint range {SEED_MIN}..{SEED_MAX}")
    unsigned = seed & 0xFFFF_FFFF_FFFF_FFFF
    return np.random.default_rng([stream, unsigned & _WORD, unsigned >> 32, ordinal])


def _round_half_up(x: float) -> int:
    # Python's round() rounds halves to even; zone boundaries and bpm want the usual rule.
    return math.floor(x + 0.5)


@dataclass(frozen=True)
class Physiology:
    """A simulated user's body, fixed for life by the seed."""

    age: int
    sex: Literal["female", "male"]
    height_cm: float
    weight_kg: float
    fitness: float  # 0 = sedentary .. 1 = athlete
    resting_hr: int
    max_hr: int
    awake_hr_delta: float  # bpm above resting when awake and sitting
    noise_sd: float  # optical sensor noise at rest, bpm
    recovery_tau_s: float  # fast component of the post-exercise recovery
    workout_probability: float  # chance of a workout on a given day
    bedtime_shift_s: float  # chronotype: usual bedtime relative to 23:00
    sleep_hours: float  # usual sleep duration


def physiology_for(seed: int) -> Physiology:
    """The physiology of the user with this seed (depends on the seed only).

    Raises ``ValueError`` if the seed is outside the PostgreSQL bigint range.
    """
    rng = _rng(_PHYSIOLOGY_STREAM, seed)
    age = int(rng.integers(AGE_MIN, AGE_MAX + 1))
    sex: Literal["female", "male"] = "female" if rng.random() < 0.5 else "male"
    # Most people are middling; few are very fit or very unfit.
    fitness = float(rng.beta(2.0, 2.5))
    resting = RESTING_HR_MAX - (RESTING_HR_MAX - RESTING_HR_MIN) * fitness + rng.normal(0.0, 3.0)
    scatter = float(np.clip(rng.normal(0.0, MAX_HR_SCATTER_SD), -MAX_HR_SCATTER_LIMIT, MAX_HR_SCATTER_LIMIT))
    max_hr = _round_half_up(TANAKA_INTERCEPT - TANAKA_AGE_SLOPE * age + scatter)
    # Typical adult heights (cm) by sex; BMI a little lower for the fit.
    height = float(np.clip(rng.normal(177.0, 7.0) if sex == "male" else rng.normal(164.0, 6.5), 145.0, 205.0))
    bmi = float(np.clip(rng.normal(26.0 - 3.0 * fitness, 3.0), 18.5, 38.0))
    return Physiology(
        age=age,
        sex=sex,
        height_cm=round(height, 1),
        weight_kg=round(bmi * (height / 100.0) ** 2, 1),
        fitness=round(fitness, 4),
        resting_hr=int(np.clip(_round_half_up(resting), RESTING_HR_MIN, RESTING_HR_MAX)),
        max_hr=max_hr,
        awake_hr_delta=round(10.0 + 8.0 * (1.0 - fitness) + float(rng.uniform(0.0, 4.0)), 2),
        noise_sd=round(float(rng.uniform(1.5, 3.0)), 2),
        recovery_tau_s=round(40.0 + 50.0 * (1.0 - fitness) + float(rng.uniform(0.0, 20.0)), 1),
        workout_probability=round(0.2 + 0.5 * fitness, 3),
        bedtime_shift_s=round(float(np.clip(rng.normal(0.0, 2400.0), -4500.0, 4500.0))),
        sleep_hours=round(float(np.clip(rng.normal(7.4, 0.5), 6.3, 8.6)), 2),
    )


@dataclass(frozen=True)
class _Night:
    bedtime_s: float  # relative to the midnight that ends the evening
    wake_s: float
    worn: bool


def _night(seed: int, evening: date, phys: Physiology) -> _Night:
    # Its own stream keyed by the evening's date, so that the day before and the day after see
    # the same night: the evening of one payload continues into the morning of the next.
    rng = _rng(_NIGHT_STREAM, seed, evening.toordinal())
    bed = float(
        np.clip(
            USUAL_BEDTIME_S + phys.bedtime_shift_s + rng.normal(0.0, BEDTIME_NIGHTLY_SD_S),
            BEDTIME_EARLIEST_S,
            BEDTIME_LATEST_S,
        )
    )
    duration = float(np.clip(phys.sleep_hours * 3600 + rng.normal(0.0, SLEEP_NIGHTLY_SD_S), SLEEP_MIN_S, SLEEP_MAX_S))
    wake = float(np.clip(bed + duration, WAKE_EARLIEST_S, WAKE_LATEST_S))
    return _Night(bedtime_s=bed, wake_s=wake, worn=bool(rng.random() >= NIGHT_NOT_WORN_PROBABILITY))


@dataclass(frozen=True)
class _Clock:
    start_utc: int  # the instant of local midnight (UTC seconds)
    sod: IntArray  # local wall-clock second of the day, for each elapsed second


def _utc_offset(ts: int, zone: ZoneInfo) -> int:
    offset = datetime.fromtimestamp(ts, zone).utcoffset()
    assert offset is not None  # a ZoneInfo always has one
    return int(offset.total_seconds())


def _local_clock(day: date, zone: ZoneInfo) -> _Clock:
    # fold=0 resolves an ambiguous midnight to its first occurrence and a non-existent one to
    # the transition instant, which is when the local date really begins.
    start = int(datetime.combine(day, time(0), tzinfo=zone).timestamp())
    end = int(datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone).timestamp())
    n = end - start
    offsets = np.full(n, _utc_offset(start, zone), dtype=np.int64)
    # zoneinfo does not expose its transitions: probe hourly (no zone changes offset twice in an
    # hour) and bisect to the second where an offset differs.
    probes = [*range(start, end, 3600), end - 1]
    for before, after in pairwise(probes):
        old, new = _utc_offset(before, zone), _utc_offset(after, zone)
        if old == new:
            continue
        lo, hi = before, after
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if _utc_offset(mid, zone) == old:
                lo = mid
            else:
                hi = mid
        offsets[hi - start :] = new
    local_midnight = (day.toordinal() - _UNIX_EPOCH_ORDINAL) * SECONDS_PER_DAY
    sod = np.arange(start, end, dtype=np.int64) + offsets - local_midnight
    return _Clock(start_utc=start, sod=sod)


def _moving_average(x: FloatArray, window: int) -> FloatArray:
    # O(n) centred moving average with edge padding (a convolution would be O(n * window)).
    padded = np.pad(x, (window // 2, window - window // 2), mode="edge")
    sums = np.cumsum(padded)
    return np.asarray((sums[window:] - sums[:-window]) / window, dtype=np.float64)


def _wander(rng: np.random.Generator, n: int, knot_s: int, sd: float) -> FloatArray:
    # A slow random drift: random values at knots, linearly interpolated in between.
    knots = np.arange(0, n + knot_s, knot_s)
    return np.interp(np.arange(n), knots, rng.normal(0.0, sd, size=knots.size))


@dataclass(frozen=True)
class _SleepState:
    asleep: BoolArray
    fraction: FloatArray  # how far into its night each second is (0..1)
    elapsed_s: FloatArray  # seconds since falling asleep


def _sleep_state(sod: IntArray, last_night: _Night, tonight: _Night) -> _SleepState:
    t = sod.astype(np.float64)
    morning = (t >= last_night.bedtime_s) & (t < last_night.wake_s)
    evening_t = t - SECONDS_PER_DAY
    evening = (evening_t >= tonight.bedtime_s) & (evening_t < tonight.wake_s)
    morning_elapsed = t - last_night.bedtime_s
    evening_elapsed = evening_t - tonight.bedtime_s
    elapsed = np.where(t < SECONDS_PER_DAY / 2, morning_elapsed, evening_elapsed)
    length = np.where(
        t < SECONDS_PER_DAY / 2,
        last_night.wake_s - last_night.bedtime_s,
        tonight.wake_s - tonight.bedtime_s,
    )
    return _SleepState(
        asleep=morning | evening,
        fraction=np.clip(elapsed / length, 0.0, 1.0),
        elapsed_s=np.clip(elapsed, 0.0, None),
    )


@dataclass(frozen=True)
class _Plan:
    drive: FloatArray  # target effort per second, as a fraction of heart-rate reserve
    workout: tuple[int, int] | None  # elapsed seconds [start, end)
    awake_window: tuple[int, int]  # elapsed seconds [first awake, first asleep again)


def _plan_activities(rng: np.random.Generator, asleep: BoolArray, phys: Physiology) -> _Plan:
    n = asleep.size
    awake_idx = np.flatnonzero(~asleep)
    wake_i, bed_i = (int(awake_idx[0]), int(awake_idx[-1]) + 1) if awake_idx.size else (0, 0)
    lo, hi = wake_i + ACTIVITY_AFTER_WAKE_S, bed_i - ACTIVITY_BEFORE_BED_S
    drive = np.zeros(n, dtype=np.float64)
    awake_level = phys.resting_hr + phys.awake_hr_delta
    reserve = phys.max_hr - awake_level

    def effort(target_fraction: float) -> float:
        # A target in % of max HR as a fraction of the reserve above the awake level; an unfit
        # user whose awake level is already near a walk's target still gets a small bump.
        return float(np.clip((target_fraction * phys.max_hr - awake_level) / reserve, 0.05, 1.0))

    def paint(start: int, seconds: float, target_fraction: float) -> int:
        s, e = max(start, lo), min(start + int(seconds), hi)
        if e > s:
            np.maximum(drive[s:e], effort(target_fraction), out=drive[s:e])
        return start + int(seconds)

    if hi - lo < 3600:
        return _Plan(drive=drive, workout=None, awake_window=(wake_i, bed_i))
    for _ in range(int(rng.poisson(2.0 + 3.0 * phys.fitness))):
        paint(int(rng.integers(lo, hi)), 60.0 * rng.uniform(*WALK_MINUTES), rng.uniform(*WALK_TARGET))
    for _ in range(int(rng.poisson(BURSTS_PER_DAY))):
        paint(int(rng.integers(lo, hi)), rng.uniform(*BURST_SECONDS), rng.uniform(*BURST_TARGET))

    workout: tuple[int, int] | None = None
    if rng.random() < phys.workout_probability:
        # Before work (early in the waking day) or after it (late afternoon / evening).
        span = hi - lo
        slot = (0.0, 0.2) if rng.random() < 0.35 else (0.55, 0.8)
        start = lo + int(span * rng.uniform(*slot))
        t = paint(start, 60.0 * rng.uniform(5.0, 10.0), rng.uniform(*WARMUP_TARGET))
        main_end = t + int(60.0 * rng.uniform(20.0, 60.0))
        if rng.random() < 0.4:
            while t < main_end:
                t = paint(t, 60.0 * rng.uniform(2.0, 4.0), rng.uniform(*INTERVAL_HIGH_TARGET))
                t = paint(t, 60.0 * rng.uniform(2.0, 3.0), rng.uniform(*INTERVAL_LOW_TARGET))
        else:
            t = paint(t, main_end - t, rng.uniform(*STEADY_TARGET))
        t = paint(t, 60.0 * rng.uniform(5.0, 8.0), COOLDOWN_TARGET)
        workout = (start, min(t, hi))
    return _Plan(drive=drive, workout=workout, awake_window=(wake_i, bed_i))


def _response(drive: FloatArray, phys: Physiology) -> FloatArray:
    """Heart-rate response (fraction of reserve) to the drive: quick rise, exponential recovery."""
    step = KINETICS_STEP_S
    coarse = drive[::step].tolist()
    a_on = 1.0 - math.exp(-step / ONSET_TAU_S)
    a_off = 1.0 - math.exp(-step / phys.recovery_tau_s)
    a_slow_up = 1.0 - math.exp(-step / SLOW_RISE_TAU_S)
    a_slow_down = 1.0 - math.exp(-step / SLOW_DECAY_TAU_S)
    fast = slow = 0.0
    out = [0.0] * len(coarse)
    # Two first-order states with direction-dependent time constants: not a linear filter, so
    # a plain loop over the coarse grid (~17k steps, a few ms) rather than a convolution.
    for i, x in enumerate(coarse):
        if x == 0.0 and fast < 1e-4 and slow < 1e-4:
            fast = slow = 0.0
            continue
        fast += (x - fast) * (a_on if x > fast else a_off)
        slow += (x - slow) * (a_slow_up if x > slow else a_slow_down)
        out[i] = (1.0 - SLOW_WEIGHT) * fast + SLOW_WEIGHT * slow
    n = drive.size
    return np.interp(np.arange(n), np.arange(0, n, step), np.asarray(out, dtype=np.float64))


def _heart_rate(
    rng: np.random.Generator, clock: _Clock, sleep: _SleepState, response: FloatArray, phys: Physiology
) -> IntArray:
    n = clock.sod.size
    sod = clock.sod.astype(np.float64)
    awake_level = phys.resting_hr + phys.awake_hr_delta
    circadian = CIRCADIAN_AMPLITUDE_BPM * np.cos(2.0 * np.pi * (sod - CIRCADIAN_PEAK_S) / SECONDS_PER_DAY)
    awake = (
        awake_level
        + circadian
        + _wander(rng, n, AWAKE_WANDER_KNOT_S, AWAKE_WANDER_SD)
        + response * (phys.max_hr - awake_level)
    )
    cycle_phase = (sleep.elapsed_s % SLEEP_CYCLE_S) / SLEEP_CYCLE_S
    rem = cycle_phase > 1.0 - (REM_SHARE_FIRST + REM_SHARE_GROWTH * sleep.fraction)
    asleep_hr = (
        phys.resting_hr
        - SLEEP_NADIR_BELOW_RESTING
        + SLEEP_U_AMPLITUDE * (2.0 * sleep.fraction - 1.0) ** 2
        + REM_BUMP_BPM * rem
        + _wander(rng, n, SLEEP_WANDER_KNOT_S, SLEEP_WANDER_SD)
    )
    sleepiness = _moving_average(sleep.asleep.astype(np.float64), SLEEP_TRANSITION_S)
    # Optical sensors are noisier when the wrist moves, quieter at night.
    noise_sd = phys.noise_sd * (1.0 + 1.5 * response) * (1.0 - 0.5 * sleepiness)
    bpm = sleepiness * asleep_hr + (1.0 - sleepiness) * awake + rng.standard_normal(n) * noise_sd
    return np.clip(np.rint(bpm), HR_FLOOR, HR_CEILING).astype(np.int64)


def _off_wrist_gaps(
    rng: np.random.Generator, plan: _Plan, last_night: _Night, tonight: _Night, n: int
) -> list[tuple[int, int]]:
    wake_i, bed_i = plan.awake_window
    gaps: list[tuple[int, int]] = []
    if not last_night.worn:
        gaps.append((0, wake_i + int(rng.uniform(5.0, 20.0) * 60)))
    if not tonight.worn:
        gaps.append((bed_i - int(rng.uniform(0.0, 15.0) * 60), n))

    def place(minutes: tuple[float, float]) -> None:
        length = int(60.0 * rng.uniform(*minutes))
        lo, hi = wake_i + ACTIVITY_AFTER_WAKE_S, bed_i - ACTIVITY_BEFORE_BED_S - length
        for _ in range(GAP_PLACEMENT_TRIES):
            if hi <= lo:
                return
            start = int(rng.integers(lo, hi))
            # Nobody charges the watch during a workout.
            if plan.workout is None or start + length <= plan.workout[0] or start >= plan.workout[1]:
                gaps.append((start, start + length))
                return

    if rng.random() < CHARGE_PROBABILITY:
        place(CHARGE_MINUTES)
    if rng.random() < SHOWER_PROBABILITY:
        place(SHOWER_MINUTES)
    return gaps


def _sample_seconds(rng: np.random.Generator, response: FloatArray, gaps: list[tuple[int, int]]) -> IntArray:
    """Elapsed seconds at which a watch takes readings: 1-15 s apart, none while off the wrist."""
    n = response.size
    activity = np.clip(response / FULLY_ACTIVE_RESPONSE, 0.0, 1.0)
    shortest = np.rint(REST_INTERVAL_S[0] - (REST_INTERVAL_S[0] - ACTIVE_INTERVAL_S[0]) * activity)
    longest = np.rint(REST_INTERVAL_S[1] - (REST_INTERVAL_S[1] - ACTIVE_INTERVAL_S[1]) * activity)
    # Squaring a uniform draw favours the short end of the range.
    steps = shortest + np.floor(rng.random(n) ** 2 * (longest - shortest + 1.0))
    following = (np.arange(n) + steps.astype(np.int64)).tolist()
    # Following the chain of next-reading pointers is inherently sequential; ~10-20k hops.
    t = int(rng.integers(0, REST_INTERVAL_S[1]))
    taken: list[int] = []
    while t < n:
        taken.append(t)
        t = following[t]
    seconds = np.asarray(taken, dtype=np.int64)
    worn = np.ones(seconds.size, dtype=np.bool_)
    for start, end in gaps:
        worn &= (seconds < start) | (seconds >= end)
    return seconds[worn]


def _percent_of(percent: int, bpm: int) -> int:
    # Integer arithmetic, halves rounded up.
    return (percent * bpm + 50) // 100


def _zone_boundaries(max_hr: int) -> tuple[int, int, int]:
    return (
        _percent_of(FAT_BURN_PERCENT, max_hr),
        _percent_of(CARDIO_PERCENT, max_hr),
        _percent_of(PEAK_PERCENT, max_hr),
    )


def _kcal_per_minute(bpm: FloatArray, phys: Physiology) -> FloatArray:
    flex_hr = phys.resting_hr + phys.awake_hr_delta + FLEX_ABOVE_SITTING_BPM
    intercept, per_hr, per_kg, per_year = KEYTEL_MALE if phys.sex == "male" else KEYTEL_FEMALE
    keytel = (intercept + per_hr * bpm + per_kg * phys.weight_kg + per_year * phys.age) / KJ_PER_KCAL
    offset = MIFFLIN_MALE_OFFSET if phys.sex == "male" else MIFFLIN_FEMALE_OFFSET
    bmr = (10.0 * phys.weight_kg + 6.25 * phys.height_cm - 5.0 * phys.age + offset) / MINUTES_PER_DAY
    resting = SEDENTARY_FACTOR * bmr
    return np.where(bpm < flex_hr, resting, np.maximum(keytel, resting))


def resting_heart_rate(sleep_minute_bpm: npt.ArrayLike) -> int | None:
    """Resting heart rate from the mean bpm of each sleep minute that has readings.

    ``None`` (Fitbit then omits ``restingHeartRate``) when fewer than ``MIN_SLEEP_MINUTES``
    minutes of sleep were recorded; otherwise the ``RESTING_PERCENTILE`` percentile, rounded.
    """
    values = np.asarray(sleep_minute_bpm, dtype=np.float64)
    if values.size < MIN_SLEEP_MINUTES:
        return None
    return _round_half_up(float(np.percentile(values, RESTING_PERCENTILE)))


def _summary_json(day: date, minute: IntArray, bpm: IntArray, asleep: BoolArray, phys: Physiology) -> bytes:
    # Minutes are real minutes since local midnight (offsets are whole minutes), so the two
    # passes through a repeated fall-back hour are different minutes.
    counts = np.bincount(minute)
    sums = np.bincount(minute, weights=bpm.astype(np.float64))
    recorded = counts > 0
    means = sums[recorded] / counts[recorded]
    boundaries = _zone_boundaries(phys.max_hr)
    zone = np.searchsorted(np.asarray(boundaries), means, side="right")
    minutes = np.bincount(zone, minlength=len(ZONE_NAMES))
    calories = np.bincount(zone, weights=_kcal_per_minute(means, phys), minlength=len(ZONE_NAMES))
    edges = (OUT_OF_RANGE_MIN_BPM, *boundaries, PEAK_MAX_BPM)
    zones = [
        {
            "caloriesOut": round(float(calories[i]), CALORIES_DECIMALS),
            "max": edges[i + 1],
            "min": edges[i],
            "minutes": int(minutes[i]),
            "name": name,
        }
        for i, name in enumerate(ZONE_NAMES)
    ]
    value: dict[str, object] = {"customHeartRateZones": [], "heartRateZones": zones}
    sleep_minute = minute[asleep]
    sleep_counts = np.bincount(sleep_minute)
    sleep_sums = np.bincount(sleep_minute, weights=bpm[asleep].astype(np.float64))
    slept = sleep_counts > 0
    resting = resting_heart_rate(sleep_sums[slept] / sleep_counts[slept])
    if resting is not None:
        value["restingHeartRate"] = resting
    payload = {"activities-heart": [{"dateTime": day.isoformat(), "value": value}]}
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()


@cache
def _record_fragments() -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    """Byte tables for rendering readings: each second's fixed-width ``{"time":"HH:MM:SS","value":``,
    and each value's ``N},`` left-aligned in a fixed width, with its length."""
    times = np.frombuffer(
        "".join(
            f'{{"time":"{t // 3600:02d}:{t // 60 % 60:02d}:{t % 60:02d}","value":' for t in range(SECONDS_PER_DAY)
        ).encode(),
        dtype=np.uint8,
    ).reshape(SECONDS_PER_DAY, -1)
    texts = [f"{v}}},".encode() for v in range(HR_CEILING + 1)]
    width = max(map(len, texts))
    values = np.frombuffer(b"".join(t.ljust(width) for t in texts), dtype=np.uint8).reshape(len(texts), width)
    return times, values, np.array(list(map(len, texts)), dtype=np.int64)


def _intraday_json(sod: IntArray, bpm: IntArray) -> bytes:
    # The dataset as one byte table, a row per reading, trimmed where a value is shorter than the
    # widest: numpy instead of a Python string per reading (a dense day: ~6 ms instead of ~10 ms).
    times, values, lengths = _record_fragments()
    rows = np.concatenate([times[sod], values[bpm]], axis=1)
    keep = np.ones(rows.shape, dtype=np.bool_)
    keep[:, times.shape[1] :] = np.arange(values.shape[1]) < lengths[bpm][:, None]
    dataset = rows[keep].tobytes()[:-1]  # without the last record's comma
    return b'{"activities-heart-intraday":{"dataset":[' + dataset + b'],"datasetInterval":1,"datasetType":"second"}}'


def simulate_day(
    seed: int,
    day: date,
    timezone: str,
    *,
    dense: bool = False,
    interval_seconds: int | None = None,
    only: PayloadKind | None = None,
) -> DayPayloads:
    """The Fitbit intraday and summary payloads of user ``seed`` for local ``day`` in ``timezone``.

    Pure and deterministic: the same arguments give byte-identical payloads. The day runs from
    local midnight to the next local midnight (23, 24 or 25 hours); intraday times are local
    wall-clock times in the order the readings were taken. ``dense=True`` gives one reading per
    second of the day and no off-wrist gaps. ``interval_seconds=N`` keeps at most the first reading
    of each N seconds of the day (a watch in power-saving mode; the scale benchmark). Raises
    ``ValueError`` for a seed outside the bigint range or an interval under a second, and
    ``zoneinfo.ZoneInfoNotFoundError`` for an unknown timezone. ``only`` leaves the
    other payload empty; the one it names is the same bytes as without it (rendering the
    intraday JSON is most of a dense day's cost, and a summary does not need it).
    """
    if interval_seconds is not None and interval_seconds < 1:
        raise ValueError(f"interval_seconds must be at least 1, got {interval_seconds}")
    phys = physiology_for(seed)
    clock = _local_clock(day, ZoneInfo(timezone))
    n = clock.sod.size
    last_night = _night(seed, day - timedelta(days=1), phys)
    tonight = _night(seed, day, phys)
    sleep = _sleep_state(clock.sod, last_night, tonight)
    # Everything up to the heart-rate curve draws the same numbers whether dense or not, so a
    # watch's readings are a subset of the dense ones.
    rng = _rng(_DAY_STREAM, seed, day.toordinal())
    plan = _plan_activities(rng, sleep.asleep, phys)
    response = _response(plan.drive, phys)
    bpm = _heart_rate(rng, clock, sleep, response, phys)

    if dense:
        seconds = np.arange(n, dtype=np.int64)
    else:
        seconds = _sample_seconds(rng, response, _off_wrist_gaps(rng, plan, last_night, tonight, n))
    if interval_seconds is not None:
        seconds = seconds[np.unique(seconds // interval_seconds, return_index=True)[1]]
    sod = clock.sod[seconds]
    # Defensive: in a zone whose offset changes by odd amounts around midnight, a second could
    # render outside this local date; such readings belong to another day.
    on_day = (sod >= 0) & (sod < SECONDS_PER_DAY)
    seconds, sod = seconds[on_day], sod[on_day]
    values = bpm[seconds]
    minute = (clock.start_utc + seconds) // 60 - clock.start_utc // 60
    origin = f"simulator {SIMULATOR_VERSION} seed={seed}" + (" dense" if dense else "")
    origin += f" every {interval_seconds} s" if interval_seconds is not None else ""
    return DayPayloads(
        intraday=_intraday_json(sod, values) if only != "summary" else b"",
        summary=_summary_json(day, minute, values, sleep.asleep[seconds], phys) if only != "intraday" else b"",
        origin=origin,
    )


class SimulatorSource:
    """The ``simulated`` source: every user gets a deterministic day from ``simulate_day``."""

    kind = "simulated"

    def fetch_day(self, user: UserProfile, day: date, *, only: PayloadKind | None = None) -> DayPayloads:
        """Simulated payloads for ``day`` from the user's seed, timezone and ``source_config`` (``dense``,
        ``interval_seconds``).

        Raises ``SourceError`` when the user has no seed, a bad setting or timezone.
        """
        if user.seed is None:
            raise SourceError(f"user {user.user_id!r} has source 'simulated' but no seed; set users.seed")
        dense = user.source_config.get("dense", False)
        if not isinstance(dense, bool):
            raise SourceError(f"user {user.user_id!r}: source_config 'dense' must be true or false, got {dense!r}")
        interval = user.source_config.get("interval_seconds")
        if interval is not None and (isinstance(interval, bool) or not isinstance(interval, int) or interval < 1):
            raise SourceError(
                f"user {user.user_id!r}: source_config 'interval_seconds' must be a whole number of seconds "
                f"of at least 1, got {interval!r}"
            )
        try:
            return simulate_day(user.seed, day, user.timezone, dense=dense, interval_seconds=interval, only=only)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise SourceError(f"user {user.user_id!r}: cannot simulate {day.isoformat()}: {exc}") from exc

    def available_dates(self, user: UserProfile) -> None:
        """A simulator has every date, so there is no range to report."""
        return None
