"""hr_assets.warehouse.readings, its pure parts: the levels a series is served at and what a summary
day reports. (Its queries run against a real server in the API tests: api/test_api.py.)"""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from hr_assets.warehouse.aggregates import LEVELS as AGGREGATE_LEVELS
from hr_assets.warehouse.aggregates import RAW
from hr_assets.warehouse.readings import DAILY_VIEW, LEVELS, Resolution, SummaryDay, bucket_count, sample_sum


def test_the_resolutions_are_the_apis_interval_values_finest_first() -> None:
    assert [r.value for r in Resolution] == ["1s", "1m", "1h", "1d"]
    assert Resolution("1h") is Resolution.HOUR
    with pytest.raises(ValueError):
        Resolution("5m")


def test_each_level_reads_its_own_relation_at_its_width() -> None:
    assert list(LEVELS) == list(Resolution)
    assert {r: level.relation for r, level in LEVELS.items()} == {
        Resolution.RAW: RAW,
        Resolution.MINUTE: AGGREGATE_LEVELS["1m"].relation,
        Resolution.HOUR: AGGREGATE_LEVELS["1h"].relation,
        Resolution.DAY: DAILY_VIEW,
    }
    assert [level.width for level in LEVELS.values()] == [
        timedelta(seconds=1),
        timedelta(minutes=1),
        timedelta(hours=1),
        timedelta(days=1),
    ]
    assert all(level.resolution is r and level.label and level.description for r, level in LEVELS.items())


@pytest.mark.parametrize("resolution", [Resolution.RAW, Resolution.DAY])
def test_counts_exist_only_for_the_bucketed_aggregates(resolution: Resolution) -> None:
    # Refused before any statement is sent: no connection is needed to find out.
    for count in (sample_sum, bucket_count):
        with pytest.raises(ValueError, match=f"^{resolution} is not a bucketed aggregate$"):
            count(None, resolution, ["u"], None, None)  # type: ignore[arg-type]


def _day(covered: int | None, day_seconds: int | None) -> SummaryDay:
    return SummaryDay(date(2025, 6, 1), 55, None, None, covered, day_seconds, rows_quarantined=0)


@pytest.mark.parametrize(
    ("covered", "day_seconds", "share"),
    [
        (43_200, 86_400, 0.5),
        (1, 3, 0.3333),  # rounded to four places, as the API reports it
        (82_800, 82_800, 1.0),  # a 23-hour day fully covered
        (0, 90_000, 0.0),
        (None, 86_400, None),  # a load record without figures
        (100, None, None),
        (100, 0, None),
    ],
)
def test_a_summary_days_coverage_is_the_share_of_its_seconds_with_readings(
    covered: int | None, day_seconds: int | None, share: float | None
) -> None:
    assert _day(covered, day_seconds).coverage == share
