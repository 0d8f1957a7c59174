"""A time-series or summary request in as few database round trips as the data allow, same answers as step by step.

The foresight (which counts a plan may ask for, which level surely fits) is checked against
figures worked out by hand; ``read_planned`` against the step-by-step reading it replaces (the
extents, then each count the plan asks for, then the points) on a real PostgreSQL warehouse with
simulated users, one of them loaded densely (a reading a second) and one sparsely.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast

import psycopg
import pytest

from hr_api.resolution import ESTIMATE_SCAN_ROWS, TooManyPoints, foresee, plan, read_planned
from hr_assets.local import localdb
from hr_assets.warehouse import readings
from hr_assets.warehouse.readings import Count, Measure, Resolution, UserExtent
from hr_assets.warehouse.users import NewUser
from hr_assets_tests.conftest import TEMPLATE, create_database, drop_database
from hr_assets_tests.warehouse_data import load_simulated

DAYS = [date(2025, 6, 1), date(2025, 6, 2), date(2025, 6, 3)]
DENSE, SPARSE = "dense", "sparse"
# The end of the loaded range, as the dashboard's "now".
NOW = datetime(2025, 6, 3, 20, tzinfo=UTC)
MINUTE, HOUR, DAY = timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)


def test_a_short_window_needs_no_count_and_its_readings_surely_fit() -> None:
    ahead = foresee(None, ["a"], NOW - 10 * MINUTE, NOW, 2_000)
    # 600 seconds: at most 600 readings, whatever the data.
    assert ahead.counts == frozenset() and ahead.points is Resolution.RAW


def test_an_hour_asks_for_the_readings_in_its_hours_and_minutes_and_reads_its_minutes() -> None:
    ahead = foresee(None, ["a"], NOW - HOUR, NOW, 2_000)
    # 3,600 possible readings are more than 2,000: counted from the hours, refined from the minutes;
    # 60 minutes surely fit.
    expected = {Count(Measure.SAMPLE_SUM, Resolution.HOUR), Count(Measure.SAMPLE_SUM, Resolution.MINUTE)}
    assert ahead.counts == expected and ahead.points is Resolution.MINUTE


def test_a_day_asks_for_its_hours_and_reads_its_minutes() -> None:
    ahead = foresee(None, ["a"], NOW - DAY, NOW, 2_000)
    # The 1,440 minutes would refine the hours' count only if it came to 8,000 or less: not read ahead.
    assert ahead.counts == {Count(Measure.SAMPLE_SUM, Resolution.HOUR)} and ahead.points is Resolution.MINUTE


def test_a_week_of_two_users_also_counts_its_minute_buckets_and_reads_its_hours() -> None:
    ahead = foresee(None, ["a", "b"], NOW - 7 * DAY, NOW, 2_000)
    # 2 x 10,080 minutes (under ESTIMATE_SCAN_ROWS) may be more than 2,000 and are counted whatever
    # the hours say; 2 x 168 hours surely fit.
    assert ESTIMATE_SCAN_ROWS >= 2 * 7 * 24 * 60
    expected = {Count(Measure.SAMPLE_SUM, Resolution.HOUR), Count(Measure.BUCKET_COUNT, Resolution.MINUTE)}
    assert ahead.counts == expected and ahead.points is Resolution.HOUR


def test_an_explicit_interval_reads_ahead_only_what_surely_fits() -> None:
    day_of_seconds = foresee(Resolution.RAW, ["a"], NOW - DAY, NOW, 2_000)
    assert day_of_seconds.points is None
    assert day_of_seconds.counts == {Count(Measure.SAMPLE_SUM, Resolution.HOUR)}
    hour_of_seconds = foresee(Resolution.RAW, ["a"], NOW - HOUR, NOW, 20_000)
    assert hour_of_seconds.points is Resolution.RAW and hour_of_seconds.counts == frozenset()
    # 48 hours hold at most two local midnights 23 hours apart or more: 3 dates; 4 counted, to be safe.
    assert foresee(Resolution.DAY, ["a"], NOW - 2 * DAY, NOW, 4).points is Resolution.DAY
    assert foresee(Resolution.DAY, ["a"], NOW - 2 * DAY, NOW, 3).points is None


@pytest.fixture(scope="module")
def warehouse_url(pg_server: localdb.LocalServer, template_url: str) -> Iterator[str]:
    name = f"hr_round_trips_{os.getpid()}"
    url = create_database(pg_server, name, template=TEMPLATE)
    users = [
        NewUser(DENSE, "Europe/Berlin", DAYS[0], seed=3, source_config={"dense": True}),
        NewUser(SPARSE, "America/New_York", DAYS[0], seed=4, source_config={"interval_seconds": 60}),
    ]
    load_simulated(url, users, DAYS)
    yield url
    drop_database(pg_server, name)


@pytest.fixture
def conn(warehouse_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(warehouse_url, autocommit=True, options="-c timezone=UTC") as connection:
        yield connection


class RoundTrips:
    """A real connection that counts how often its user waits for the server: a statement alone, or a pipeline."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self._conn = conn
        self._piped = False
        self.count = 0
        self.statements = 0

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        self.statements += 1
        if not self._piped:
            self.count += 1
        return self._conn.execute(*args, **kwargs)

    @contextmanager
    def pipeline(self) -> Iterator[None]:
        self.count += 1
        self._piped = True
        try:
            with self._conn.pipeline():
                yield
        finally:
            self._piped = False


def _step_by_step(
    conn: psycopg.Connection, interval: Resolution | None, user_ids: list[str], window: timedelta, max_points: int
) -> tuple[Resolution, int, dict[str, readings.UserPoints]]:
    """The reading the one-round-trip path replaces: extents, the counts as asked, the points."""
    extents = readings.user_extents(conn, user_ids)
    chosen = plan(interval, extents, NOW - window, NOW, max_points, readings.PointCounts(conn, user_ids))
    return (
        chosen.resolution,
        chosen.estimated_points,
        readings.points(conn, chosen.resolution, user_ids, NOW - window, NOW),
    )


def _no_check(extents: Mapping[str, UserExtent]) -> None:
    pass


# (users, window, interval, max_points, round trips): one where the foreseen level serves the request.
CASES = [
    ([DENSE], 10 * MINUTE, None, 2_000, 1),
    ([DENSE], HOUR, None, 2_000, 1),
    ([DENSE], DAY, None, 2_000, 1),
    ([DENSE, SPARSE], HOUR, None, 2_000, 1),
    ([DENSE, SPARSE], DAY, None, 2_000, 1),
    ([DENSE, SPARSE], 2 * DAY, None, 2_000, 1),
    ([DENSE], HOUR, Resolution.RAW, 20_000, 1),
    ([DENSE], DAY, Resolution.MINUTE, 2_000, 1),
    ([DENSE, SPARSE], 3 * DAY, Resolution.DAY, 2_000, 1),
    # A reading a minute: an hour's 60 readings fit at 1s, finer than the 1m the window promised.
    ([SPARSE], HOUR, None, 2_000, 2),
    # An explicit 1s over a day of 1,440 sparse readings: the hours counted in the first trip, the
    # minutes (read ahead only when cheap) in the second, the readings in the third (step by step: 4).
    ([SPARSE], DAY, Resolution.RAW, 2_000, 3),
]


@pytest.mark.parametrize(("user_ids", "window", "interval", "max_points", "trips"), CASES)
def test_read_planned_answers_as_step_by_step_in_the_round_trips_the_data_allow(
    conn: psycopg.Connection,
    user_ids: list[str],
    window: timedelta,
    interval: Resolution | None,
    max_points: int,
    trips: int,
) -> None:
    resolution, estimated, expected = _step_by_step(conn, interval, user_ids, window, max_points)
    counted = RoundTrips(conn)
    served = read_planned(
        cast(psycopg.Connection, counted), interval, user_ids, NOW - window, NOW, max_points, _no_check
    )
    assert served.plan.resolution is resolution
    assert served.plan.estimated_points == estimated
    assert served.points == expected
    assert sum(p.count for p in served.points.values()) > 0
    assert set(served.extents) == set(user_ids)
    assert counted.count == trips


def test_a_refused_caller_is_checked_before_anything_but_the_extents_is_read(conn: psycopg.Connection) -> None:
    class Refused(Exception):
        pass

    def refuse(extents: Mapping[str, UserExtent]) -> None:
        assert set(extents) == {DENSE}
        raise Refused

    counted = RoundTrips(conn)
    with pytest.raises(Refused):
        read_planned(cast(psycopg.Connection, counted), None, [DENSE], NOW - HOUR, NOW, 2_000, refuse, read_ahead=False)
    assert (counted.count, counted.statements) == (1, 1)


def test_too_many_points_is_refused_after_one_round_trip(conn: psycopg.Connection) -> None:
    counted = RoundTrips(conn)
    with pytest.raises(TooManyPoints, match="interval=1s"):
        read_planned(cast(psycopg.Connection, counted), Resolution.RAW, [DENSE], NOW - DAY, NOW, 2_000, _no_check)
    assert counted.count == 1


def test_the_summary_reads_the_registration_and_the_days_in_one_round_trip(conn: psycopg.Connection) -> None:
    counted = RoundTrips(conn)
    extent, days = readings.read_summary(cast(psycopg.Connection, counted), DENSE, DAYS[0], DAYS[-1])
    assert counted.count == 1
    assert extent == readings.user_extents(conn, [DENSE])[DENSE]
    assert days == readings.summary_days(conn, DENSE, DAYS[0], DAYS[-1])
    assert [d.date for d in days] == DAYS
    assert readings.read_summary(conn, "nobody", DAYS[0], DAYS[-1]) == (None, [])
