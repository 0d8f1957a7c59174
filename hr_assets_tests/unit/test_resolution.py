"""hr_api.resolution: which level serves a time-series request, the finest within max_points.

The counts a plan asks for come through the PointCounter protocol; here a table of counts stands in
for the warehouse, so each test states the counts it assumes and sees which the planner asked for.
(The API tests check the same planner over real data: test_api.py.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from hr_api.resolution import ESTIMATE_SCAN_ROWS, ORDER, Plan, TooManyPoints, estimate, plan, upper_bound
from hr_assets.warehouse.readings import Resolution, UserExtent

START = datetime(2025, 6, 1, tzinfo=UTC)


def _extent(user_id: str, first: datetime | None, last: datetime | None, timezone: str = "UTC") -> UserExtent:
    return UserExtent(user_id, timezone, None, first, last)


def _hours(n: float) -> timedelta:
    return timedelta(hours=n)


@dataclass
class CountTable:
    """Counts by (kind, resolution); every question asked is recorded, an unexpected one fails."""

    sample_sums: dict[Resolution, int] = field(default_factory=dict)
    bucket_counts: dict[Resolution, int] = field(default_factory=dict)
    asked: list[tuple[str, Resolution]] = field(default_factory=list)

    def sample_sum(self, resolution: Resolution, start: datetime, end: datetime) -> int:
        self.asked.append(("sample_sum", resolution))
        return self.sample_sums[resolution]

    def bucket_count(self, resolution: Resolution, start: datetime, end: datetime) -> int:
        self.asked.append(("bucket_count", resolution))
        return self.bucket_counts[resolution]


def test_levels_are_tried_finest_first() -> None:
    assert ORDER == (Resolution.RAW, Resolution.MINUTE, Resolution.HOUR, Resolution.DAY)


def test_the_raw_bound_is_a_reading_a_second_over_the_users_readings_inside_the_window() -> None:
    # Readings 10:00:00 to 10:59:59 inclusive: at most 3,600; the window clips them to its half hour.
    extents = {"a": _extent("a", START + _hours(10), START + _hours(11) - timedelta(seconds=1))}
    assert upper_bound(Resolution.RAW, extents, START, START + _hours(24)) == 3_600
    assert upper_bound(Resolution.RAW, extents, START + _hours(10.5), START + _hours(24)) == 1_800
    assert upper_bound(Resolution.RAW, extents, START + _hours(11), START + _hours(24)) == 0


def test_users_without_readings_or_outside_the_window_add_nothing() -> None:
    extents = {
        "none": _extent("none", None, None),
        "before": _extent("before", START - _hours(48), START - _hours(47)),
        "in": _extent("in", START, START + timedelta(seconds=9)),
    }
    assert upper_bound(Resolution.RAW, extents, START, START + _hours(1)) == 10
    assert upper_bound(Resolution.DAY, extents, START, START + _hours(1)) == 1


def test_bucket_bounds_count_whole_utc_buckets_touched() -> None:
    extents = {"a": _extent("a", START + timedelta(seconds=30), START + timedelta(minutes=2, seconds=10))}
    assert upper_bound(Resolution.MINUTE, extents, START, START + _hours(1)) == 3  # 00:00, 00:01, 00:02
    assert upper_bound(Resolution.HOUR, extents, START, START + _hours(1)) == 1


def test_the_day_bound_counts_the_users_local_days() -> None:
    # 21:30 to 22:30 UTC is 23:30 to 00:30 in Berlin (UTC+2 in June): two local days, one UTC day.
    first, last = START + _hours(21.5), START + _hours(22.5)
    assert (
        upper_bound(Resolution.DAY, {"b": _extent("b", first, last, "Europe/Berlin")}, START, START + _hours(48)) == 2
    )
    assert upper_bound(Resolution.DAY, {"u": _extent("u", first, last)}, START, START + _hours(48)) == 1


def test_a_bound_within_max_points_is_the_estimate_without_a_query() -> None:
    extents = {"a": _extent("a", START, START + _hours(1))}
    counts = CountTable()
    assert estimate(Resolution.RAW, extents, START, START + _hours(1), 5_000, counts) == 3_600
    assert counts.asked == []


def test_raw_over_the_bound_is_counted_from_the_hours_then_the_minutes_near_the_limit() -> None:
    extents = {"a": _extent("a", START, START + _hours(2))}  # bound 7,200 readings
    near = CountTable(sample_sums={Resolution.HOUR: 7_000, Resolution.MINUTE: 6_500})
    assert estimate(Resolution.RAW, extents, START, START + _hours(2), 2_000, near) == 6_500
    assert near.asked == [("sample_sum", Resolution.HOUR), ("sample_sum", Resolution.MINUTE)]
    # Far above the limit (more than REFINE_FACTOR times max_points) the hours decide it alone.
    far = CountTable(sample_sums={Resolution.HOUR: 7_000})
    assert estimate(Resolution.RAW, extents, START, START + _hours(2), 1_000, far) == 7_000
    assert far.asked == [("sample_sum", Resolution.HOUR)]


def test_an_estimate_never_exceeds_the_bound() -> None:
    # An hour bucket overlapping the window counts readings outside it: the bound caps the sum.
    # (The reading at 02:00 is outside [00:00, 02:00): 7,200 readings at most.)
    extents = {"a": _extent("a", START, START + _hours(2))}
    counts = CountTable(sample_sums={Resolution.HOUR: 99_999, Resolution.MINUTE: 99_999})
    assert estimate(Resolution.RAW, extents, START, START + _hours(2), 2_000, counts) == 7_200


def test_raw_over_many_hours_is_not_counted_at_all() -> None:
    # More hour buckets than ESTIMATE_SCAN_ROWS: counting would cost more than it saves.
    days = ESTIMATE_SCAN_ROWS // 24 + 1
    extents = {"a": _extent("a", START, START + timedelta(days=days))}
    counts = CountTable()
    bound = upper_bound(Resolution.RAW, extents, START, START + timedelta(days=days))
    assert estimate(Resolution.RAW, extents, START, START + timedelta(days=days), 2_000, counts) == bound
    assert counts.asked == []


def test_a_minute_level_over_the_bound_counts_its_buckets() -> None:
    extents = {"a": _extent("a", START, START + _hours(10))}  # 601 minute buckets at most
    counts = CountTable(bucket_counts={Resolution.MINUTE: 450})
    assert estimate(Resolution.MINUTE, extents, START, START + _hours(10), 500, counts) == 450
    assert counts.asked == [("bucket_count", Resolution.MINUTE)]


def test_auto_picks_the_finest_level_that_fits() -> None:
    extents = {"a": _extent("a", START, START + _hours(2))}
    dense = CountTable(sample_sums={Resolution.HOUR: 7_200, Resolution.MINUTE: 7_200})
    assert plan(None, extents, START, START + _hours(2), 2_000, dense) == Plan(Resolution.MINUTE, 120, auto=True)
    sparse = CountTable(sample_sums={Resolution.HOUR: 1_500, Resolution.MINUTE: 1_400})
    assert plan(None, extents, START, START + _hours(2), 2_000, sparse) == Plan(Resolution.RAW, 1_400, auto=True)


def test_an_asked_for_level_is_served_if_it_fits() -> None:
    extents = {"a": _extent("a", START, START + _hours(2))}
    assert plan(Resolution.HOUR, extents, START, START + _hours(2), 2_000, CountTable()) == Plan(
        Resolution.HOUR, 2, auto=False
    )


def test_an_asked_for_level_that_does_not_fit_is_refused_saying_what_to_change() -> None:
    extents = {"a": _extent("a", START, START + _hours(2))}
    counts = CountTable(sample_sums={Resolution.HOUR: 7_200, Resolution.MINUTE: 7_200})
    with pytest.raises(TooManyPoints) as refused:
        plan(Resolution.RAW, extents, START, START + _hours(2), 2_000, counts)
    assert str(refused.value) == (
        "interval=1s: about 7,200 points for this range exceed max_points=2,000; "
        "ask for a coarser interval, a shorter range, fewer users or a larger max_points (at most 20,000)"
    )


def test_a_range_too_long_even_at_one_day_is_refused() -> None:
    extents = {u: _extent(u, START, START + timedelta(days=30)) for u in ("a", "b", "c")}
    counts = CountTable(sample_sums={Resolution.HOUR: 10**6}, bucket_counts={Resolution.HOUR: 2_000})
    with pytest.raises(TooManyPoints) as refused:
        plan(None, extents, START, START + timedelta(days=31), 50, counts)
    # 1m is estimated from the hours with readings (2,000 x 60), so no minute is counted.
    assert ("bucket_count", Resolution.MINUTE) not in counts.asked
    assert str(refused.value) == (
        "even at 1d this range holds about 93 points for 3 user(s), more than max_points=50; "
        "ask for a shorter range, fewer users or a larger max_points (at most 20,000)"
    )
