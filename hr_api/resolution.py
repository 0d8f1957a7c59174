"""Which resolution serves a time-series request: the finest that stays within ``max_points``.

Counts are estimated without reading raw rows: an upper bound from the window and each user's
first and last reading first (no query), then, where that bound is too high to decide, the
sample counts or bucket counts of an aggregate level, read only when the index entries to count
are few. Every estimate is at least the number of points the level returns, so an automatic
choice never exceeds ``max_points``; an explicit interval is served from its own level or refused.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from hr_assets.warehouse.aggregates import align
from hr_assets.warehouse.readings import LEVELS, Resolution, UserExtent

# Index entries an estimate may count (a few milliseconds here); above it the bound is used as it is.
ESTIMATE_SCAN_ROWS = 25_000
# A count from whole hours within this factor of max_points is refined from the minutes.
REFINE_FACTOR = 4
ORDER = (Resolution.RAW, Resolution.MINUTE, Resolution.HOUR, Resolution.DAY)
_MICROSECOND = timedelta(microseconds=1)


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
