from __future__ import annotations

import random
import threading
import time
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

import psycopg
import pytest

from hr_assets.domain.transform import local_day_window, parse_intraday
from hr_assets.warehouse import aggregates
from hr_assets.warehouse.aggregates import LEVELS, align, merge_windows, refresh
from hr_assets.warehouse.db import Warehouse, WarehouseError, query
from hr_assets.warehouse.loads import load_intraday
from hr_assets_tests.conftest import advisory_waiters
from hr_assets_tests.payloads import intraday

USERS = {"east": "Asia/Kolkata", "west": "America/New_York", "mid": "Europe/Berlin"}
# A normal day and both DST transitions of New York and Berlin.
DAYS = [date(2025, 3, 9), date(2025, 3, 30), date(2025, 6, 1), date(2025, 10, 26), date(2025, 11, 2)]
REFERENCE = """
SELECT user_id, date_trunc(%(unit)s, time) AS bucket, min(bpm), max(bpm), count(*), sum(bpm),
       round(avg(bpm)::numeric, 9)
FROM activities_heart_intraday GROUP BY 1, 2 ORDER BY 1, 2
"""
AGGREGATE = """
SELECT user_id, bucket, min_bpm, max_bpm, sample_count, sum_bpm, round(avg_bpm::numeric, 9)
FROM {} ORDER BY 1, 2
"""


def _random_day(rng: random.Random) -> list[dict[str, object]]:
    readings, second = [], rng.randrange(0, 30)
    while second < 86400:
        readings.append(
            {"time": f"{second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}", "value": rng.randrange(40, 200)}
        )
        second += rng.randrange(1, 90)
    return readings


def _load_all(conn: psycopg.Connection, url: str, seed: int) -> list[tuple[str, datetime, datetime]]:
    rng = random.Random(seed)
    windows = []
    for user, zone in USERS.items():
        conn.execute(
            "INSERT INTO users (id, display_name, timezone, start_date) VALUES (%s, %s, %s, '2025-01-01')"
            " ON CONFLICT DO NOTHING",
            (user, user, zone),
        )
        for day in DAYS:
            parsed = parse_intraday(intraday(_random_day(rng)), user_id=user, day=day, timezone=zone)
            with psycopg.connect(url) as writer:
                load_intraday(writer, parsed, user_id=user, day=day, source="test")
            windows.append((user, *local_day_window(day, zone)))
    return windows


def _refresh_all(url: str, windows: list[tuple[str, datetime, datetime]]) -> None:
    for name in ("1m", "1h", "1d"):
        refresh(Warehouse(url), LEVELS[name], windows)


@pytest.mark.parametrize(("level", "unit"), [("1m", "minute"), ("1h", "hour"), ("1d", "day")])
def test_aggregates_equal_a_group_by_over_raw_rows(
    conn: psycopg.Connection, db_url: str, level: str, unit: str
) -> None:
    _refresh_all(db_url, _load_all(conn, db_url, seed=1))
    expected = conn.execute(REFERENCE, {"unit": unit}).fetchall()
    actual = conn.execute(AGGREGATE.format(LEVELS[level].relation)).fetchall()  # type: ignore[arg-type]
    assert len(expected) > 0 and actual == expected


def test_reload_with_changed_values_replaces_aggregates_too(conn: psycopg.Connection, db_url: str) -> None:
    windows = _load_all(conn, db_url, seed=1)
    _refresh_all(db_url, windows)
    _load_all(conn, db_url, seed=2)  # every partition re-loaded with other readings
    _refresh_all(db_url, windows)
    for level, unit in (("1m", "minute"), ("1h", "hour"), ("1d", "day")):
        expected = conn.execute(REFERENCE, {"unit": unit}).fetchall()
        assert conn.execute(AGGREGATE.format(LEVELS[level].relation)).fetchall() == expected  # type: ignore[arg-type]


def test_refresh_touches_only_the_users_window(conn: psycopg.Connection, db_url: str) -> None:
    windows = _load_all(conn, db_url, seed=3)
    _refresh_all(db_url, windows)
    conn.execute("DELETE FROM activities_heart_intraday WHERE user_id = 'west'")
    mid_before = conn.execute(
        "SELECT count(*), sum(sum_bpm) FROM activities_heart_intraday_1m WHERE user_id = 'mid'"
    ).fetchone()
    _refresh_all(db_url, [w for w in windows if w[0] == "west"])
    assert conn.execute("SELECT count(*) FROM activities_heart_intraday_1d WHERE user_id = 'west'").fetchone() == (0,)
    assert (
        conn.execute("SELECT count(*), sum(sum_bpm) FROM activities_heart_intraday_1m WHERE user_id = 'mid'").fetchone()
        == mid_before
    )


def test_windows_align_to_whole_buckets() -> None:
    start = datetime(2025, 11, 2, 4, 0, 30, tzinfo=UTC)
    end = datetime(2025, 11, 3, 5, 0, 0, tzinfo=UTC)
    assert align(start, end, timedelta(minutes=1)) == (datetime(2025, 11, 2, 4, 0, tzinfo=UTC), end)
    assert align(start, end, timedelta(days=1)) == (
        datetime(2025, 11, 2, tzinfo=UTC),
        datetime(2025, 11, 4, tzinfo=UTC),
    )
    kolkata = local_day_window(date(2025, 6, 1), "Asia/Kolkata")  # starts at 18:30 UTC
    assert align(*kolkata, timedelta(hours=1)) == (
        datetime(2025, 5, 31, 18, tzinfo=UTC),
        datetime(2025, 6, 1, 19, tzinfo=UTC),
    )


def test_merge_windows() -> None:
    t = [datetime(2025, 1, d, tzinfo=UTC) for d in range(1, 8)]
    assert merge_windows([(t[2], t[3]), (t[0], t[1]), (t[1], t[2]), (t[5], t[6])]) == [(t[0], t[3]), (t[5], t[6])]


def test_concurrent_refreshes_of_overlapping_windows_agree(conn: psycopg.Connection, db_url: str) -> None:
    import threading

    windows = _load_all(conn, db_url, seed=4)
    west = [w for w in windows if w[0] == "west"]
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def refresh_days(mine: list[tuple[str, datetime, datetime]]) -> None:
        barrier.wait()
        try:
            for _ in range(15):
                for name in ("1m", "1h", "1d"):
                    refresh(Warehouse(db_url), LEVELS[name], mine)
        except BaseException as exc:  # reported below
            errors.append(exc)

    # Two runs of one user at once whose windows share buckets (the nightly loads two days,
    # which share a UTC day bucket): here the same window, the largest overlap.
    threads = [threading.Thread(target=refresh_days, args=([west[0]],)) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    expected = [r for r in conn.execute(REFERENCE, {"unit": "day"}).fetchall() if r[0] == "west"]
    daily = conn.execute(AGGREGATE.format(LEVELS["1d"].relation)).fetchall()  # type: ignore[arg-type]
    # The buckets both windows touch hold every reading of that UTC day.
    touched = {r[1] for r in daily}
    assert [r for r in daily if r[0] == "west"] == [r for r in expected if r[1] in touched]


def _wait_until_blocked(conn: psycopg.Connection, relation: str, user_id: str) -> None:
    for _ in range(3000):  # 60 s
        if len(advisory_waiters(conn, relation, user_id)) == 1:
            return
        time.sleep(0.02)
    raise AssertionError(f"no rollup of {user_id} waited for its lock")


def test_a_failing_rollup_stops_the_other_workers_after_their_current_window(
    db_url: str, conn: psycopg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn.execute(
        "INSERT INTO users (id, display_name, timezone, start_date) "
        "VALUES ('bad', 'bad', 'UTC', '2025-01-01'), ('good', 'good', 'UTC', '2025-01-01')"
    )
    conn.execute(
        "INSERT INTO activities_heart_intraday SELECT u, t, 60, NULL FROM unnest(ARRAY['bad', 'good']) AS u, "
        "generate_series(timestamptz '2025-06-01 00:00+00', '2025-06-01 02:59+00', interval '1 minute') AS t"
    )
    conn.execute("ALTER TABLE activities_heart_intraday_1m ADD CONSTRAINT refuse_bad CHECK (user_id <> 'bad')")
    conn.commit()
    start = datetime(2025, 6, 1, tzinfo=UTC)
    ten_minutes = timedelta(minutes=10)
    # "bad" fails on one worker; "good" has three separate windows on the other.
    windows = [("bad", start, start + ten_minutes)] + [
        ("good", start + timedelta(hours=h), start + timedelta(hours=h) + ten_minutes) for h in range(3)
    ]
    relation = LEVELS["1m"].relation
    stop_raised = threading.Event()

    class StopFlag(threading.Event):
        """The refresh's stop flag, telling the test when the refresh raised it."""

        def set(self) -> None:
            super().set()
            stop_raised.set()

    monkeypatch.setattr(aggregates, "threading", SimpleNamespace(Event=StopFlag))
    errors: list[BaseException] = []

    def hold_then_release(bad: psycopg.Connection, good: psycopg.Connection) -> None:
        """Order the workers: good inside its first window, then bad fails, then good goes on."""
        try:
            with psycopg.connect(db_url, autocommit=True) as watcher:
                _wait_until_blocked(watcher, relation, "good")
                _wait_until_blocked(watcher, relation, "bad")
            bad.rollback()  # bad's rollup runs, and fails
            assert stop_raised.wait(60), "the refresh never raised its stop flag"
            good.rollback()  # good's first window completes; it must not start another
        except BaseException as exc:  # reported below
            errors.append(exc)
            bad.rollback()
            good.rollback()

    with psycopg.connect(db_url) as hold_bad, psycopg.connect(db_url) as hold_good:
        for holder, user_id in ((hold_bad, "bad"), (hold_good, "good")):
            holder.execute(query("rollup_lock"), {"relation": relation, "user_id": user_id})
        releaser = threading.Thread(target=hold_then_release, args=(hold_bad, hold_good))
        releaser.start()
        with pytest.raises(WarehouseError, match="CheckViolation"):
            refresh(Warehouse(db_url), LEVELS["1m"], windows)
        releaser.join()
    assert errors == []
    rows = conn.execute("SELECT min(bucket), count(*) FROM activities_heart_intraday_1m WHERE user_id = 'good'")
    assert rows.fetchone() == (start, 10)  # the first window only
