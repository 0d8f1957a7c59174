"""The wear record of each loaded day, as the load writes it: worn minutes of the local day (23, 24 or 25 hours,
at +5:45, across a change of the participant's zone), re-loads and corrections, and migration 0008's back-fill of
days loaded before it, in both modes."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import psycopg
import pytest

from hr_assets.transform import INTRADAY_SCHEMA, QUARANTINE_SCHEMA, ParsedIntraday, local_day_window, parse_intraday
from hr_assets.warehouse.loads import load_intraday
from hr_assets.warehouse.migrations import MIGRATIONS_DIR, latest_version, migrate
from hr_assets_tests.payloads import every, intraday
from hr_assets_tests.study_data import register
from hr_assets_tests.test_timescale import SERVER_URL, _create_database, _drop_database

WEAR = "SELECT worn_minutes, day_minutes, first_reading, last_reading FROM wear_days WHERE user_id = %s AND date = %s"
SPRING_FORWARD = date(2025, 3, 30)  # Europe/Berlin: 23 hours
FALL_BACK = date(2025, 10, 26)  # Europe/Berlin: 25 hours


def _readings(user_id: str, times: list[datetime]) -> pl.DataFrame:
    return pl.DataFrame(
        {"user_id": [user_id] * len(times), "time": times, "bpm": [70] * len(times), "confidence": [None] * len(times)},
        schema=INTRADAY_SCHEMA,
    )


def _load_instants(conn: psycopg.Connection, user_id: str, day: date, timezone: str, times: list[datetime]) -> None:
    """Load readings at ``times`` (UTC instants, as a source that sends instants gives them) as the day's partition."""
    start, end = local_day_window(day, timezone)
    parsed = ParsedIntraday(_readings(user_id, sorted(times)), pl.DataFrame(schema=QUARANTINE_SCHEMA), start, end)
    load_intraday(conn, parsed, user_id=user_id, day=day, source="test")


def _every_minute(day: date, timezone: str, seconds_past: int = 0) -> list[datetime]:
    start, end = local_day_window(day, timezone)
    minutes = int((end - start).total_seconds()) // 60
    return [start + timedelta(minutes=m, seconds=seconds_past) for m in range(minutes)]


@pytest.mark.parametrize(("day", "minutes"), [(SPRING_FORWARD, 1380), (FALL_BACK, 1500), (date(2025, 6, 1), 1440)])
def test_a_day_worn_throughout_counts_every_minute_of_its_local_length(
    conn: psycopg.Connection, day: date, minutes: int
) -> None:
    register(conn, "p1", start=day, timezone="Europe/Berlin")
    _load_instants(conn, "p1", day, "Europe/Berlin", _every_minute(day, "Europe/Berlin", seconds_past=30))
    start, end = local_day_window(day, "Europe/Berlin")
    assert conn.execute(WEAR, ("p1", day)).fetchone() == (
        minutes,
        minutes,
        start + timedelta(seconds=30),
        end - timedelta(seconds=30),
    )


def test_a_wall_clock_payload_on_the_short_day_has_no_minutes_of_the_skipped_hour(conn: psycopg.Connection) -> None:
    # A Fitbit payload names wall-clock times; 02:00-02:59 does not exist on 2025-03-30 in Berlin.
    register(conn, "p1", start=SPRING_FORWARD, timezone="Europe/Berlin")
    parsed = parse_intraday(intraday(every(60)), user_id="p1", day=SPRING_FORWARD, timezone="Europe/Berlin")
    load_intraday(conn, parsed, user_id="p1", day=SPRING_FORWARD, source="test")
    worn, day_minutes, *_ = conn.execute(WEAR, ("p1", SPRING_FORWARD)).fetchone() or ()
    assert (worn, day_minutes) == (1380, 1380)


def test_minutes_are_local_minutes_at_plus_5_45(conn: psycopg.Connection) -> None:
    day = date(2025, 6, 1)
    register(conn, "p1", start=day, timezone="Asia/Kathmandu")
    start, _ = local_day_window(day, "Asia/Kathmandu")
    assert start == datetime(2025, 5, 31, 18, 15, tzinfo=UTC)
    # Local 00:00:00 and 00:00:59 are one minute; 00:01:00 a second; 10:00 to 19:59 six hundred more.
    times = [start, start + timedelta(seconds=59), start + timedelta(minutes=1)]
    times += [start + timedelta(hours=10, minutes=m) for m in range(600)]
    _load_instants(conn, "p1", day, "Asia/Kathmandu", times)
    assert conn.execute(WEAR, ("p1", day)).fetchone() == (602, 1440, start, start + timedelta(hours=10, minutes=599))


def test_a_change_of_zone_keeps_each_days_figures_in_the_zone_it_was_loaded_in(conn: psycopg.Connection) -> None:
    first, second = date(2025, 6, 1), date(2025, 6, 2)
    register(conn, "p1", start=first, timezone="Asia/Kathmandu")
    _load_instants(conn, "p1", first, "Asia/Kathmandu", _every_minute(first, "Asia/Kathmandu")[:700])
    conn.execute("UPDATE users SET timezone = 'America/New_York' WHERE id = 'p1'")
    # The day of the move, as the loader now sees it: New York's local day, readings all day.
    _load_instants(conn, "p1", second, "America/New_York", _every_minute(second, "America/New_York"))
    kathmandu = conn.execute(WEAR, ("p1", first)).fetchone()
    new_york = conn.execute(WEAR, ("p1", second)).fetchone()
    assert kathmandu is not None and new_york is not None
    assert kathmandu[:2] == (700, 1440) and kathmandu[2] == local_day_window(first, "Asia/Kathmandu")[0]
    assert new_york[:2] == (1440, 1440) and new_york[2] == local_day_window(second, "America/New_York")[0]


def test_a_reload_and_a_correction_replace_the_days_figures(conn: psycopg.Connection) -> None:
    day = date(2025, 6, 1)
    register(conn, "p1", start=day)
    minutes = _every_minute(day, "UTC")
    _load_instants(conn, "p1", day, "UTC", minutes[:700])
    assert conn.execute(WEAR, ("p1", day)).fetchone() == (700, 1440, minutes[0], minutes[699])
    _load_instants(conn, "p1", day, "UTC", minutes[:700])  # the same data again
    assert conn.execute(WEAR, ("p1", day)).fetchone() == (700, 1440, minutes[0], minutes[699])
    _load_instants(conn, "p1", day, "UTC", minutes[100:550])  # corrected: fewer minutes, later start
    assert conn.execute(WEAR, ("p1", day)).fetchone() == (450, 1440, minutes[100], minutes[549])
    _load_instants(conn, "p1", day, "UTC", [])  # the source now has nothing for the day
    assert conn.execute(WEAR, ("p1", day)).fetchone() == (0, 1440, None, None)


# --- migration 0008 on a populated warehouse -------------------------------------------------------


@pytest.fixture(params=["postgres", pytest.param("timescaledb", marks=pytest.mark.timescale)])
def unmigrated_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """An empty database in either mode."""
    if request.param == "postgres":
        yield request.getfixturevalue("empty_db_url")
        return
    if not SERVER_URL:
        pytest.skip("HR_TEST_TIMESCALE_URL is not set: TimescaleDB mode needs a TimescaleDB server")
    name, url = _create_database(SERVER_URL)
    try:
        yield url
    finally:
        _drop_database(SERVER_URL, name)


def test_migration_0008_back_fills_the_days_loaded_before_it(unmigrated_url: str, tmp_path: Path) -> None:
    before = tmp_path / "migrations"
    before.mkdir()
    for path in MIGRATIONS_DIR.glob("*.sql"):
        if int(path.name[:4]) < 8:
            shutil.copy(path, before / path.name)
    migrate(unmigrated_url, directory=before)
    days = [SPRING_FORWARD, FALL_BACK, date(2025, 6, 1)]
    with psycopg.connect(unmigrated_url, autocommit=True, options="-c timezone=UTC") as conn:
        register(conn, "p1", start=days[0], timezone="Europe/Berlin")
        register(conn, "p2", start=days[0], timezone="Asia/Kathmandu")
        for n, day in enumerate(days):
            _load_instants(conn, "p1", day, "Europe/Berlin", _every_minute(day, "Europe/Berlin")[: 500 + n])
            _load_instants(conn, "p2", day, "Asia/Kathmandu", _every_minute(day, "Asia/Kathmandu")[:: 2 + n])
        expected = conn.execute("SELECT * FROM partition_loads ORDER BY user_id, date").fetchall()
        readings = conn.execute("SELECT count(*), sum(bpm) FROM activities_heart_intraday").fetchone()
        # Loads recorded without the figures (the columns allow it): the migration computes them.
        conn.execute(
            "UPDATE partition_loads SET covered_seconds = NULL, day_seconds = NULL WHERE date <> %s", (days[2],)
        )
        assert conn.execute("SELECT count(*) FROM partition_loads WHERE covered_seconds IS NULL").fetchone() == (4,)
    migrate(unmigrated_url)
    with psycopg.connect(unmigrated_url, autocommit=True, options="-c timezone=UTC") as conn:
        assert conn.execute("SELECT max(version) FROM schema_migrations").fetchone() == (latest_version(),)
        assert conn.execute("SELECT * FROM partition_loads ORDER BY user_id, date").fetchall() == expected
        assert conn.execute("SELECT count(*), sum(bpm) FROM activities_heart_intraday").fetchone() == readings
        wear = conn.execute("SELECT user_id, date, worn_minutes, day_minutes FROM wear_days ORDER BY 1, 2").fetchall()
        assert wear == [
            ("p1", SPRING_FORWARD, 500, 1380),
            ("p1", date(2025, 6, 1), 502, 1440),
            ("p1", FALL_BACK, 501, 1500),
            ("p2", SPRING_FORWARD, 720, 1440),
            ("p2", date(2025, 6, 1), 360, 1440),
            ("p2", FALL_BACK, 480, 1440),
        ]
        assert conn.execute("SELECT count(*) FROM users WHERE cohort IS NULL").fetchone() == (2,)
