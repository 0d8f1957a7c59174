"""Which resolution serves a time-series request: the finest that stays within ``max_points``.

Counts are estimated without reading raw rows: an upper bound from the window and each user's
first and last reading first (no query), then, where that bound is too high to decide, the
sample counts or bucket counts of an aggregate level, read only when the index entries to count
are few. Every estimate is at least the number of points the level returns, so an automatic
choice never exceeds ``max_points``; an explicit interval is served from its own level or refused.

A request is answered in one database round trip where the data allow (:func:`read_planned`):
from the window alone (before the users' extents are known) follow the counts the plan may ask
for, and the finest level whose points surely fit; the extents, those counts and those points are
read together, and the plan then runs on what came back. A second round trip only when the plan
picks a finer level than the window alone could promise (sparse data) or asks for a count the
window alone did not foresee.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

import psycopg

from hr_assets.warehouse import readings
from hr_assets.warehouse.aggregates import align
from hr_assets.warehouse.readings import LEVELS, Count, Measure, Resolution, UserExtent, UserPoints

# Index entries an estimate may count (a few milliseconds here); above it the bound is used as it is.
ESTIMATE_SCAN_ROWS = 25_000
# A count from whole hours within this factor of max_points is refined from the minutes.
REFINE_FACTOR = 4
ORDER = (Resolution.RAW, Resolution.MINUTE, Resolution.HOUR, Resolution.DAY)
_MICROSECOND = timedelta(microseconds=1)
# A count the plan asks for only on some data is read ahead when it reads at most this many index
# entries (well under a millisecond here): an hour's minutes for a few users, not a day's 1,440.
READ_AHEAD_SCAN_ROWS = 1_000
# Counts this many times max_points decide every level without a refinement (REFINE_FACTOR is less).
FAR_OVER = 1_000
# The shortest local day: the day a DST change springs forward by an hour.
SHORTEST_LOCAL_DAY = timedelta(hours=23)


class TooManyPoints(ValueError):
    """No level (or not the one asked for) fits within max_points; the message says what to change."""


class PointCounter(Protocol):
    def sample_sum(self, resolution: Resolution, start: datetime, end: datetime) -> int: ...

    def bucket_count(self, resolution: Resolution, start: datetime, end: datetime) -> int: ...


@dataclass(frozen=True)
class Plan:
    resolution: Resolution
    estimated_points: int
    auto: bool


def _clip(extent: UserExtent, start: datetime, end: datetime) -> tuple[datetime, datetime] | None:
    """The part of [start, end) between the user's first and last reading, or None."""
    if extent.first_reading is None or extent.last_reading is None:
        return None
    first, last = max(start, extent.first_reading), min(end, extent.last_reading + _MICROSECOND)
    return (first, last) if first < last else None


def upper_bound(resolution: Resolution, extents: Mapping[str, UserExtent], start: datetime, end: datetime) -> int:
    """Points the level can hold for these users in [start, end), without a query."""
    total = 0
    for extent in extents.values():
        clipped = _clip(extent, start, end)
        if clipped is None:
            continue
        first, last = clipped
        if resolution is Resolution.RAW:
            total += math.ceil((last - first) / LEVELS[resolution].width)
        elif resolution is Resolution.DAY:
            zone = ZoneInfo(extent.timezone)
            total += ((last - _MICROSECOND).astimezone(zone).date() - first.astimezone(zone).date()).days + 1
        else:
            width = LEVELS[resolution].width
            aligned_start, aligned_end = align(first, last, width)
            total += (aligned_end - aligned_start) // width
    return total


def estimate(
    resolution: Resolution,
    extents: Mapping[str, UserExtent],
    start: datetime,
    end: datetime,
    max_points: int,
    counter: PointCounter,
) -> int:
    """At least the number of points ``resolution`` gives for [start, end); exact or close where it matters."""
    bound = upper_bound(resolution, extents, start, end)
    if bound <= max_points or resolution is Resolution.DAY:
        return bound
    if resolution is Resolution.RAW:
        # The readings in the overlapping hours first (few rows); the minutes only near the limit,
        # where the hours' whole-hour edges could decide it.
        if upper_bound(Resolution.HOUR, extents, start, end) > ESTIMATE_SCAN_ROWS:
            return bound
        hours = min(bound, counter.sample_sum(Resolution.HOUR, start, end))
        near = hours <= REFINE_FACTOR * max_points
        if near and upper_bound(Resolution.MINUTE, extents, start, end) <= ESTIMATE_SCAN_ROWS:
            return min(hours, counter.sample_sum(Resolution.MINUTE, start, end))
        return hours
    if bound <= ESTIMATE_SCAN_ROWS:
        return counter.bucket_count(resolution, start, end)
    if resolution is Resolution.MINUTE and upper_bound(Resolution.HOUR, extents, start, end) <= ESTIMATE_SCAN_ROWS:
        # An hour with any reading counts as 60 minutes with readings.
        return min(bound, counter.bucket_count(Resolution.HOUR, start, end) * 60)
    return bound


def plan(
    requested: Resolution | None,
    extents: Mapping[str, UserExtent],
    start: datetime,
    end: datetime,
    max_points: int,
    counter: PointCounter,
) -> Plan:
    """The level to serve: ``requested`` if it fits, else (without a request) the finest that fits."""
    if requested is not None:
        points = estimate(requested, extents, start, end, max_points, counter)
        if points > max_points:
            raise TooManyPoints(
                f"interval={requested.value}: about {points:,} points for this range exceed max_points={max_points:,}; "
                "ask for a coarser interval, a shorter range, fewer users or a larger max_points (at most 20,000)"
            )
        return Plan(requested, points, auto=False)
    for resolution in ORDER:
        points = estimate(resolution, extents, start, end, max_points, counter)
        if points <= max_points:
            return Plan(resolution, points, auto=True)
    raise TooManyPoints(
        f"even at 1d this range holds about {points:,} points for {len(extents)} user(s), more than "
        f"max_points={max_points:,}; ask for a shorter range, fewer users or a larger max_points (at most 20,000)"
    )


class _CountRecorder:
    """A counter that answers every count with ``answer`` and notes what was asked."""

    def __init__(self, answer: int) -> None:
        self._answer = answer
        self.asked: set[Count] = set()

    def sample_sum(self, resolution: Resolution, start: datetime, end: datetime) -> int:
        self.asked.add(Count(Measure.SAMPLE_SUM, resolution))
        return self._answer

    def bucket_count(self, resolution: Resolution, start: datetime, end: datetime) -> int:
        self.asked.add(Count(Measure.BUCKET_COUNT, resolution))
        return self._answer


@dataclass(frozen=True)
class Foresight:
    """What a request will need, from its window alone: counts to read and points worth reading."""

    counts: frozenset[Count]
    points: Resolution | None  # a level that surely fits and that the plan serves unless a finer one fits


def _whole_window(user_ids: Collection[str], start: datetime, end: datetime) -> dict[str, UserExtent]:
    # Readings from start to end for every user: no user's extent gives more points at 1s, 1m or 1h.
    return {u: UserExtent(u, "UTC", None, start, end - _MICROSECOND) for u in user_ids}


def window_bound(resolution: Resolution, user_ids: Collection[str], start: datetime, end: datetime) -> int:
    """Points ``resolution`` can hold for these users in [start, end) whatever their data and time zones."""
    if resolution is Resolution.DAY:
        # Local midnights come at least SHORTEST_LOCAL_DAY apart; the dates are one more than those inside.
        return len(user_ids) * (math.ceil((end - start) / SHORTEST_LOCAL_DAY) + 1)
    return upper_bound(resolution, _whole_window(user_ids, start, end), start, end)


def foresee(
    requested: Resolution | None, user_ids: Collection[str], start: datetime, end: datetime, max_points: int
) -> Foresight:
    """The counts :func:`plan` will or cheaply may ask for and the level to read the points of, before any query.

    The plan is run on the whole window with counts answered just over ``max_points`` (every
    level that needs a count misses by little: every count it could ask for is asked, the minutes
    after the hours too) and far over it (the counts asked whatever they say, unless a finer level
    fits first). The first are read ahead when cheap, the second always.
    """
    window = _whole_window(user_ids, start, end)
    asked = []
    for answer in (max_points + 1, FAR_OVER * max_points):
        recorder = _CountRecorder(answer)
        with contextlib.suppress(TooManyPoints):
            plan(requested, window, start, end, max_points, recorder)
        asked.append(recorder.asked)
    maybe, surely = asked
    cheap = {c for c in maybe if upper_bound(c.resolution, window, start, end) <= READ_AHEAD_SCAN_ROWS}
    candidates = ORDER if requested is None else (requested,)
    fitting = (r for r in candidates if window_bound(r, user_ids, start, end) <= max_points)
    return Foresight(frozenset(surely | cheap), next(fitting, None))


class _ReadCounts:
    """Counts already read, else read now."""

    def __init__(self, read: Mapping[Count, int], fallback: PointCounter) -> None:
        self._read = read
        self._fallback = fallback

    def sample_sum(self, resolution: Resolution, start: datetime, end: datetime) -> int:
        found = self._read.get(Count(Measure.SAMPLE_SUM, resolution))
        return self._fallback.sample_sum(resolution, start, end) if found is None else found

    def bucket_count(self, resolution: Resolution, start: datetime, end: datetime) -> int:
        found = self._read.get(Count(Measure.BUCKET_COUNT, resolution))
        return self._fallback.bucket_count(resolution, start, end) if found is None else found


@dataclass(frozen=True)
class Served:
    plan: Plan
    extents: dict[str, UserExtent]
    points: dict[str, UserPoints]


def read_planned(
    conn: psycopg.Connection,
    requested: Resolution | None,
    user_ids: list[str],
    start: datetime,
    end: datetime,
    max_points: int,
    check: Callable[[Mapping[str, UserExtent]], None],
    *,
    read_ahead: bool = True,
) -> Served:
    """The plan and points of a time-series request, in one round trip where the data allow.

    ``check`` sees the users' extents before anything is planned (it raises to refuse the
    request); without ``read_ahead`` nothing but the extents is read before it has passed (for a
    caller that may not read every user asked for, whose request ``check`` will refuse).
    """
    ahead = foresee(requested, user_ids, start, end, max_points) if read_ahead else Foresight(frozenset(), None)
    first = readings.read_series(conn, user_ids, start, end, ahead.counts, ahead.points)
    check(first.extents)
    counter = _ReadCounts(first.counts, readings.PointCounts(conn, user_ids))
    chosen = plan(requested, first.extents, start, end, max_points, counter)
    if first.points is not None and chosen.resolution is ahead.points:
        return Served(chosen, first.extents, first.points)
    return Served(chosen, first.extents, readings.points(conn, chosen.resolution, user_ids, start, end))
