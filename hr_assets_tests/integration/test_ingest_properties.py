"""Nothing is lost between a payload and the warehouse, for payloads hypothesis makes.

Each example loads one payload into a real PostgreSQL database through ``ingest`` (parse,
checks, COPY or merge, quarantine) and compares what the database holds for the partition with the
payload, record by record: each reading is a readable record of the payload (its time in the local
day, its bpm and confidence), each quarantined record is a payload record as it was, with a reason
naming it, and together they are exactly the payload's records (the summary's resting heart rate and
zones likewise, in their columns or in quarantine). A payload refused whole is kept in quarantine
while the partition keeps what it had. Examples re-load the same partitions, so the merge path of a
re-load is exercised as much as the first COPY. The records compared are printed at the end of the run.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import psycopg
import pytest
from hypothesis import given

from hr_assets.domain.ingest import ingest
from hr_assets.domain.transform import local_day_window
from hr_assets.domain.user_day import UserDay
from hr_assets.local import localdb
from hr_assets.sources import SOURCES, DayPayloads, PayloadKind, SourceRegistry, UserProfile
from hr_assets.warehouse.db import Warehouse
from hr_assets.warehouse.users import NewUser, User, add_user, users_by_id
from hr_assets_tests.conftest import TEMPLATE, create_database, drop_database
from hr_assets_tests.figures import section
from hr_assets_tests.unit.test_transform_properties import (
    DAYS,
    check_accounts_for_every_record,
    dataset_or_refusal,
    examples,
    intraday_cases,
    summary_cases,
    summary_records_or_refusal,
)

INTRADAY_INGEST_EXAMPLES = 200
SUMMARY_INGEST_EXAMPLES = 150
FIGURES = section("nothing lost between a payload and the warehouse (test_ingest_properties.py)")


@dataclass
class _PayloadSource:
    """Serves whatever payload the running example set."""

    kind: str = "hypothesis"
    intraday: bytes = b""
    summary: bytes = b""

    def fetch_day(self, user: UserProfile, day: date, *, only: PayloadKind | None = None) -> DayPayloads:
        return DayPayloads(intraday=self.intraday, summary=self.summary, origin="generated")

    def available_dates(self, user: UserProfile) -> None:
        return None


@dataclass(frozen=True)
class Loaded:
    url: str
    users: dict[str, User]  # one per time zone of DAYS
    source: _PayloadSource


@pytest.fixture(scope="module")
def warehouse(pg_server: localdb.LocalServer, template_url: str) -> Iterator[Loaded]:
    # Module-scoped: hypothesis runs many examples in one test call, against one database.
    name = "hr_ingest_properties"
    url = create_database(pg_server, name, template=TEMPLATE)
    source = _PayloadSource()
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            for timezone in sorted({zone for _, zone in DAYS}):
                user_id = timezone.lower().replace("/", "-")
                add_user(
                    conn,
                    NewUser(user_id, timezone, date(2025, 1, 1), source=source.kind),
                    known_sources=SOURCES.kinds | {source.kind},
                )
            users = users_by_id(conn, [zone.lower().replace("/", "-") for _, zone in DAYS])
        yield Loaded(url, {user.timezone: user for user in users.values()}, source)
    finally:
        drop_database(pg_server, name)


def _sources(loaded: Loaded) -> SourceRegistry:
    return SOURCES.with_sources(loaded.source)


def _held(conn: psycopg.Connection, query: str, params: dict[str, Any]) -> Any:
    row = conn.execute(query, params).fetchone()
    assert row is not None
    return row[0] if len(row) == 1 else row


QUARANTINED = "SELECT count(*) FROM quarantine WHERE user_id = %(user)s AND date = %(day)s AND payload = %(payload)s"
READINGS = """
SELECT count(*), md5(coalesce(string_agg(time::text || bpm || coalesce(confidence, -1), ',' ORDER BY time), ''))
FROM activities_heart_intraday WHERE user_id = %(user)s AND time >= %(start)s AND time < %(end)s
"""
READING_ROWS = """
SELECT time, bpm, confidence FROM activities_heart_intraday
WHERE user_id = %(user)s AND time >= %(start)s AND time < %(end)s ORDER BY time
"""
QUARANTINED_ROWS = """
SELECT record, reason FROM quarantine WHERE user_id = %(user)s AND date = %(day)s AND payload = %(payload)s ORDER BY id
"""


@examples(INTRADAY_INGEST_EXAMPLES)
@given(intraday_cases())
def test_every_intraday_record_is_in_the_table_or_in_quarantine(
    warehouse: Loaded, case: tuple[bytes, date, str]
) -> None:
    payload, day, timezone = case
    user = warehouse.users[timezone]
    start, end = local_day_window(day, timezone)
    key = {"user": user.id, "day": day, "payload": "intraday", "start": start, "end": end}
    with psycopg.connect(warehouse.url, autocommit=True) as conn:
        before = _held(conn, READINGS, key)
        warehouse.source.intraday = payload
        report = ingest(
            Warehouse(warehouse.url), _sources(warehouse), {user.id: user}, [UserDay(user.id, day)], "intraday"
        )
        readings = _held(conn, READINGS, key)
        quarantined = _held(conn, QUARANTINED, key)
        dataset = dataset_or_refusal(payload, day)
        if dataset is None:
            [failure] = report.failures
            assert failure.error is not None and failure.error.startswith("intraday payload of")
            # Kept whole, with the reason; the partition's readings are as they were.
            assert quarantined == 1 and readings == before
            kept = _held(conn, "SELECT record, reason FROM quarantine WHERE user_id = %(user)s AND date = %(day)s", key)
            assert kept == (payload.decode("utf-8", "replace").replace("\x00", "\\u0000"), failure.error)
        else:
            assert report.failures == []
            assert readings[0] + quarantined == len(dataset)
            assert report.total("rows_written") == readings[0] and report.total("rows_quarantined") == quarantined
            reading_rows = [tuple(row) for row in conn.execute(READING_ROWS, key).fetchall()]
            quarantined_rows = [tuple(row) for row in conn.execute(QUARANTINED_ROWS, key).fetchall()]
            check_accounts_for_every_record(reading_rows, quarantined_rows, dataset, day, timezone)
            FIGURES["intraday payloads readable (the others refused whole and kept)"] += 1
            FIGURES["intraday records compared: readings + quarantined = the payload's, 0 lost"] += len(dataset)


SUMMARY_PARTS = """
SELECT (resting_heart_rate IS NOT NULL)::int + jsonb_array_length(heart_rate_zones)
       + jsonb_array_length(custom_heart_rate_zones)
FROM activities_heart_summary WHERE user_id = %(user)s AND date = %(day)s
"""


@examples(SUMMARY_INGEST_EXAMPLES)
@given(summary_cases())
def test_every_part_of_a_summary_is_in_the_table_or_in_quarantine(warehouse: Loaded, case: tuple[bytes, date]) -> None:
    payload, day = case
    user = next(iter(warehouse.users.values()))
    key = {"user": user.id, "day": day, "payload": "summary"}
    with psycopg.connect(warehouse.url, autocommit=True) as conn:
        warehouse.source.summary = payload
        report = ingest(
            Warehouse(warehouse.url), _sources(warehouse), {user.id: user}, [UserDay(user.id, day)], "summary"
        )
        held = summary_records_or_refusal(payload, day)
        quarantined = _held(conn, QUARANTINED, key)
        if held is None:
            [failure] = report.failures
            assert failure.error is not None and failure.error.startswith("summary payload of")
            assert quarantined == 1
            return
        assert report.failures == [], report.failures
        stored = conn.execute(SUMMARY_PARTS, key).fetchone()
        assert (stored[0] if stored else 0) + quarantined == held
        _check_summary_content(conn, key, payload)
        FIGURES["summary payloads readable (the others refused whole and kept)"] += 1
        FIGURES["summary parts compared: columns + quarantined = the payload's, 0 lost"] += held


SUMMARY_ROW = """
SELECT resting_heart_rate, heart_rate_zones, custom_heart_rate_zones
FROM activities_heart_summary WHERE user_id = %(user)s AND date = %(day)s
"""
# The summary's zone lists: payload key -> the column that holds the readable zones.
ZONE_COLUMNS = {"heartRateZones": 1, "customHeartRateZones": 2}


def _canonical(value: Any) -> str:
    """One text per JSON value, whatever the key order (jsonb reorders keys)."""
    return json.dumps(value, sort_keys=True)


def _check_summary_content(conn: psycopg.Connection, key: dict[str, Any], payload: bytes) -> None:
    """Each part of a readable summary payload is in its column or in quarantine, as it was in the payload."""
    entries = json.loads(payload)["activities-heart"]
    value = entries[0]["value"] if entries else {}
    row = conn.execute(SUMMARY_ROW, key).fetchone() or (None, [], [])
    quarantine = {reason: record for record, reason in conn.execute(QUARANTINED_ROWS, key).fetchall()}
    resting = value.get("restingHeartRate")
    if row[0] is not None or resting is None:
        assert row[0] == resting
    else:  # refused: kept in quarantine with the value as sent
        [record] = [record for reason, record in quarantine.items() if reason.startswith("impossible restingHeartRate")]
        assert _canonical(json.loads(record)) == _canonical({"restingHeartRate": resting})
    for name, column in ZONE_COLUMNS.items():
        zones = value.get(name, [])
        stored = row[column] or []
        if not isinstance(zones, list):  # the whole list refused as one record
            assert stored == [] and _canonical(json.loads(quarantine[f"'{name}' is not a list"])) == _canonical(zones)
            continue
        refused = {
            int(match.group(1)): record
            for reason, record in quarantine.items()
            if (match := re.match(rf"{name}\[(\d+)\]: ", reason))
        }
        assert all(_canonical(json.loads(record)) == _canonical(zones[i]) for i, record in refused.items())
        kept = [zone for i, zone in enumerate(zones) if i not in refused]
        assert [_canonical(zone) for zone in stored] == [_canonical(zone) for zone in kept]
