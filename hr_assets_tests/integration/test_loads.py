from __future__ import annotations

import json
from datetime import date

import psycopg
import pytest

from hr_assets.domain.transform import parse_intraday, parse_summary
from hr_assets.warehouse import loads
from hr_assets.warehouse.loads import load_intraday, load_summary
from hr_assets_tests.payloads import every, intraday, summary

DAY = date(2025, 6, 1)
TZ = "Europe/Berlin"
CHECKSUM = """
SELECT md5(coalesce(string_agg(user_id || time::text || bpm::text || coalesce(confidence::text, '-'),
                                ',' ORDER BY user_id, time), ''))
FROM activities_heart_intraday
"""


@pytest.fixture(autouse=True)
def registered(conn: psycopg.Connection) -> None:
    for user in ("u1", "u2", "u9"):
        conn.execute(
            "INSERT INTO users (id, display_name, timezone, start_date) VALUES (%s, %s, %s, '2025-01-01')",
            (user, user, TZ),
        )


def _load(conn: psycopg.Connection, dataset: list[object], user: str = "u1", day: date = DAY) -> loads.LoadResult:
    parsed = parse_intraday(intraday(dataset), user_id=user, day=day, timezone=TZ)
    return load_intraday(conn, parsed, user_id=user, day=day, source="test")


def _rows(conn: psycopg.Connection) -> list[tuple[object, ...]]:
    return conn.execute("SELECT user_id, time, bpm FROM activities_heart_intraday ORDER BY 1, 2").fetchall()


def test_first_load_writes_every_reading(conn: psycopg.Connection) -> None:
    result = _load(conn, every(10))
    assert (result.rows_written, result.rows_inserted, result.rows_updated, result.rows_deleted) == (8640, 8640, 0, 0)
    assert conn.execute("SELECT count(*), min(bpm), max(bpm) FROM activities_heart_intraday").fetchone() == (
        8640,
        60,
        99,
    )
    load = conn.execute(
        "SELECT rows_loaded, covered_seconds, day_seconds, min_bpm, max_bpm FROM partition_loads"
    ).fetchone()
    assert load == (8640, 86400, 86400, 60, 99)


def test_load_record_describes_the_readings_it_wrote(conn: psycopg.Connection) -> None:
    # Two readings in one minute, a gap of minutes, and the day's extremes late in the day.
    dataset = [
        {"time": "00:00:05", "value": 70},
        {"time": "00:00:35", "value": 72},
        {"time": "00:07:00", "value": 45},
        {"time": "23:59:59", "value": 181},
    ]
    _load(conn, dataset)
    stored = conn.execute(
        "SELECT count(DISTINCT date_trunc('minute', time)) * 60, min(bpm), max(bpm) FROM activities_heart_intraday"
    ).fetchone()
    recorded = conn.execute("SELECT covered_seconds, min_bpm, max_bpm FROM partition_loads").fetchone()
    assert recorded == stored == (180, 45, 181)


def test_reloading_identical_data_changes_nothing(conn: psycopg.Connection) -> None:
    _load(conn, every(10))
    before = conn.execute(CHECKSUM).fetchone()
    result = _load(conn, every(10))
    assert (result.rows_inserted, result.rows_updated, result.rows_deleted, result.rows_unchanged) == (0, 0, 0, 8640)
    assert conn.execute(CHECKSUM).fetchone() == before


def test_corrected_reload_replaces_values_and_removes_stale_rows(conn: psycopg.Connection, db_url: str) -> None:
    _load(conn, every(60))
    corrected = every(60)[:-10]  # the last ten readings were withdrawn
    corrected[0] = {**corrected[0], "value": 150}  # and the first one corrected
    corrected.append({"time": "12:00:30", "value": 77})  # and one new reading
    result = _load(conn, corrected)
    assert (result.rows_inserted, result.rows_updated, result.rows_deleted) == (1, 1, 10)
    # Exactly what a single load of the corrected data gives.
    with psycopg.connect(db_url, autocommit=True) as other:
        reloaded = _rows(conn)
        other.execute("TRUNCATE activities_heart_intraday")
        _load(other, corrected)
        assert _rows(other) == reloaded


def test_other_partitions_are_untouched(conn: psycopg.Connection) -> None:
    _load(conn, every(60), user="u1")
    _load(conn, every(60), user="u2")
    _load(conn, every(60), user="u1", day=date(2025, 6, 2))
    _load(conn, every(120), user="u1")  # re-load of u1's first day with half the readings
    counts = dict(
        conn.execute(
            "SELECT user_id || ' ' || (time AT TIME ZONE 'Europe/Berlin')::date, count(*) "
            "FROM activities_heart_intraday GROUP BY 1"
        ).fetchall()
    )
    assert counts == {"u1 2025-06-01": 720, "u2 2025-06-01": 1440, "u1 2025-06-02": 1440}


def test_empty_day_writes_nothing_and_reports_zero(conn: psycopg.Connection) -> None:
    result = _load(conn, [])
    assert result.rows_written == 0 and result.rows_inserted == 0
    assert conn.execute("SELECT count(*) FROM activities_heart_intraday").fetchone() == (0,)
    load = conn.execute("SELECT rows_loaded, covered_seconds, min_bpm, max_bpm FROM partition_loads").fetchone()
    assert load == (0, 0, None, None)


def test_quarantine_is_kept_and_replaced_on_reload(conn: psycopg.Connection) -> None:
    _load(conn, [{"time": "10:00:00", "value": 300}, {"time": "10:00:01", "value": 70}])
    rows = conn.execute("SELECT user_id, date, payload, source, reason FROM quarantine").fetchall()
    assert rows == [("u1", DAY, "intraday", "test", "record 0: impossible bpm 300 (outside 1..250)")]
    _load(conn, [{"time": "10:00:01", "value": 70}])
    assert conn.execute("SELECT count(*) FROM quarantine").fetchone() == (0,)


def test_connection_killed_half_way_leaves_no_partial_partition(
    conn: psycopg.Connection, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _load(conn, every(60))
    before = conn.execute(CHECKSUM).fetchone()
    real_record = loads._record_load

    def kill_then_continue(c: psycopg.Connection, *args: object, **kwargs: object) -> None:
        # The rows are written inside the transaction; now the server loses the connection.
        with psycopg.connect(db_url, autocommit=True) as killer:
            killer.execute("SELECT pg_terminate_backend(%s)", (c.info.backend_pid,))
        real_record(c, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(loads, "_record_load", kill_then_continue)
    with psycopg.connect(db_url) as victim, pytest.raises(psycopg.OperationalError):
        parsed = parse_intraday(intraday(every(30, bpm=120)), user_id="u1", day=DAY, timezone=TZ)
        load_intraday(victim, parsed, user_id="u1", day=DAY, source="test")
    assert conn.execute(CHECKSUM).fetchone() == before
    # A first load killed half-way leaves nothing at all.
    with psycopg.connect(db_url) as victim, pytest.raises(psycopg.OperationalError):
        parsed = parse_intraday(intraday(every(30)), user_id="u9", day=DAY, timezone=TZ)
        load_intraday(victim, parsed, user_id="u9", day=DAY, source="test")
    assert conn.execute("SELECT count(*) FROM activities_heart_intraday WHERE user_id = 'u9'").fetchone() == (0,)


def test_summary_upsert_is_idempotent_and_replaces(conn: psycopg.Connection) -> None:
    first = load_summary(conn, parse_summary(summary(DAY, resting=60), user_id="u1", day=DAY), source="test")
    again = load_summary(conn, parse_summary(summary(DAY, resting=57), user_id="u1", day=DAY), source="test")
    assert (first.rows_inserted, again.rows_updated) == (1, 1)
    row = conn.execute(
        "SELECT resting_heart_rate, jsonb_array_length(heart_rate_zones) FROM activities_heart_summary"
    ).fetchall()
    assert row == [(57, 4)]


def test_summary_of_an_empty_day_writes_no_row(conn: psycopg.Connection) -> None:
    result = load_summary(
        conn, parse_summary(summary(DAY, resting=None, zones=[]), user_id="u1", day=DAY), source="test"
    )
    assert result.rows_written == 0
    assert conn.execute("SELECT count(*) FROM activities_heart_summary").fetchone() == (0,)


def test_summary_reloaded_without_data_is_withdrawn(conn: psycopg.Connection) -> None:
    load_summary(conn, parse_summary(summary(DAY, resting=60), user_id="u1", day=DAY), source="test")
    empty = load_summary(
        conn, parse_summary(summary(DAY, resting=None, zones=[]), user_id="u1", day=DAY), source="test"
    )
    assert empty.rows_deleted == 1
    assert conn.execute("SELECT count(*) FROM activities_heart_summary").fetchone() == (0,)


def test_summary_with_only_custom_zones_is_kept(conn: psycopg.Connection) -> None:
    payload = json.dumps(
        {
            "activities-heart": [
                {
                    "dateTime": DAY.isoformat(),
                    "value": {
                        "heartRateZones": [],
                        "customHeartRateZones": [{"name": "IN_CUSTOM_ZONE", "minutes": 12}],
                    },
                }
            ]
        }
    ).encode()
    result = load_summary(conn, parse_summary(payload, user_id="u1", day=DAY), source="test")
    assert result.rows_inserted == 1
    row = conn.execute("SELECT custom_heart_rate_zones FROM activities_heart_summary").fetchone()
    assert row == ([{"name": "IN_CUSTOM_ZONE", "minutes": 12}],)


def test_a_load_that_grows_the_table_by_more_than_a_tenth_analyzes_it(conn: psycopg.Connection) -> None:
    def estimated_rows() -> object:
        row = conn.execute(
            "SELECT reltuples FROM pg_class WHERE oid = 'activities_heart_intraday'::regclass"
        ).fetchone()
        return row[0] if row else None

    assert estimated_rows() == -1  # never analyzed
    first = _load(conn, every(10))
    assert loads.analyze_after_bulk_load(conn, first.rows_inserted)
    assert estimated_rows() == 8640
    hourly = _load(conn, every(3600), day=date(2025, 6, 2))  # 24 rows: under a tenth of 8,640
    assert not loads.analyze_after_bulk_load(conn, hourly.rows_inserted)
    assert not loads.analyze_after_bulk_load(conn, 0)
    assert estimated_rows() == 8640


def test_a_reload_merges_by_hash_joins_even_before_the_table_was_ever_analyzed(conn: psycopg.Connection) -> None:
    # A first run that fails before its ANALYZE leaves the table without statistics; the re-run's
    # merge then planned nested loops, quadratic in the day's readings (8 s instead of 0.03 s a day).
    for n in range(3):
        _load(conn, every(7), day=date(2025, 6, 1 + n))
    never_analyzed = conn.execute("SELECT reltuples < 0 FROM pg_class WHERE relname = 'activities_heart_intraday'")
    assert never_analyzed.fetchone() == (True,)
    # The server explains every statement of this session to it, as notices.
    notices: list[str] = []
    conn.add_notice_handler(lambda notice: notices.append(notice.message_primary or ""))
    conn.execute("LOAD 'auto_explain'")
    conn.execute("SET auto_explain.log_min_duration = 0")
    conn.execute("SET auto_explain.log_level = notice")

    result = _load(conn, every(7), day=DAY)  # the re-load

    assert result.rows_inserted == 0 and result.rows_unchanged == result.rows_written
    merges = [plan for plan in notices if "intraday_stage" in plan and "on activities_heart_intraday" in plan]
    assert len(merges) == 2  # changed rows, new rows; no stale rows to delete
    assert all("Hash" in plan and "Nested Loop" not in plan for plan in merges), merges
