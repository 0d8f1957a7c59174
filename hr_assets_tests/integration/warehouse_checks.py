"""The checks a warehouse must pass after a fault or an upgrade, written once.

The raw readings' checksum equals a reference's (an uninterrupted run), every aggregate equals a
``GROUP BY`` of the raw rows, and every intraday load record equals the readings of its local day (and
every local day with readings has a record). The same in both modes: the aggregates are continuous
aggregates in TimescaleDB mode and tables in PostgreSQL mode, with the same columns.
"""

from __future__ import annotations

from datetime import UTC, datetime

from psycopg import sql

from hr_assets.warehouse.aggregates import LEVELS
from hr_assets.warehouse.db import connect
from hr_assets_tests.integration.test_faults import GROUP_BY, RAW_CHECKSUM

EPOCH = datetime(1, 1, 1, tzinfo=UTC)
AGGREGATE = (
    "SELECT user_id, bucket, min_bpm, max_bpm, sample_count, sum_bpm FROM {} WHERE bucket >= %(since)s ORDER BY 1, 2"
)
GROUP_BY_SINCE = GROUP_BY.replace("GROUP BY", "WHERE time >= %(since)s GROUP BY")
PARTITION_CHECKSUM = """
SELECT count(*), md5(coalesce(string_agg(time::text || '|' || bpm, ',' ORDER BY time), ''))
FROM activities_heart_intraday WHERE user_id = %(user_id)s AND time >= %(start)s AND time < %(end)s
"""
# Each intraday load record against the readings of its user's local day (none where they agree).
RECORDS_AGAINST_READINGS = """
SELECT l.user_id, l.date, l.rows_loaded, count(h.bpm), l.sum_bpm, sum(h.bpm)
FROM partition_loads l
JOIN users u ON u.id = l.user_id
LEFT JOIN activities_heart_intraday h ON h.user_id = l.user_id
     AND h.time >= l.date::timestamp AT TIME ZONE u.timezone
     AND h.time < (l.date + 1)::timestamp AT TIME ZONE u.timezone
WHERE l.payload = 'intraday' AND l.date >= %(since)s
GROUP BY l.user_id, l.date, l.rows_loaded, l.sum_bpm
HAVING l.rows_loaded <> count(h.bpm) OR l.sum_bpm IS DISTINCT FROM sum(h.bpm)
"""
# Local days with readings but no load record.
READINGS_WITHOUT_RECORD = """
SELECT DISTINCT h.user_id, (h.time AT TIME ZONE u.timezone)::date
FROM activities_heart_intraday h JOIN users u ON u.id = h.user_id
WHERE NOT EXISTS (SELECT 1 FROM partition_loads l WHERE l.user_id = h.user_id AND l.payload = 'intraday'
                  AND l.date = (h.time AT TIME ZONE u.timezone)::date)
"""


def assert_consistent(url: str, reference_url: str, since: datetime = EPOCH) -> None:
    """The warehouse at ``url`` is what an uninterrupted run (``reference_url``) left, and agrees with itself.

    ``since``: the retention horizon, before which raw readings are gone while aggregates and records stay.
    """
    with connect(url, autocommit=True) as conn, connect(reference_url, autocommit=True) as reference:
        assert conn.execute(RAW_CHECKSUM).fetchone() == reference.execute(RAW_CHECKSUM).fetchone(), "raw readings"
    assert_self_consistent(url, since)


def assert_self_consistent(url: str, since: datetime = EPOCH) -> None:
    """Every aggregate equals a GROUP BY of the raw rows since ``since``; load records equal the readings."""
    with connect(url, autocommit=True) as conn:
        for level, unit in (("1m", "minute"), ("1h", "hour"), ("1d", "day")):
            expected = conn.execute(GROUP_BY_SINCE, {"unit": unit, "since": since}).fetchall()
            statement = sql.SQL(AGGREGATE).format(sql.Identifier(LEVELS[level].relation))
            actual = conn.execute(statement, {"since": since}).fetchall()
            assert len(expected) > 0 and actual == expected, f"{level} differs from a GROUP BY of the raw rows"
        params = {"since": since.date()}
        assert conn.execute(RECORDS_AGAINST_READINGS, params).fetchall() == [], "load records differ from readings"
        assert conn.execute(READINGS_WITHOUT_RECORD).fetchall() == [], "readings without a load record"
