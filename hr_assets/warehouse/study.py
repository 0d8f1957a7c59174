"""What the study view reads: participants in scope, their wear records, cohort membership.

A wear record is a day's intraday load record (``partition_loads``, seen through the ``wear_days`` view),
written in the load's transaction; nothing here scans the raw readings.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import psycopg
from psycopg.rows import class_row

from hr_assets.warehouse.db import query


@dataclass(frozen=True)
class Scope:
    """The participants a caller may read: every one, or those named; optionally only one cohort's."""

    all_users: bool
    user_ids: frozenset[str]
    cohort: str | None = None

    def params(self) -> dict[str, Any]:
        return {"all_users": self.all_users, "user_ids": sorted(self.user_ids), "cohort": self.cohort}


@dataclass(frozen=True)
class StudyUser:
    user_id: str
    cohort: str | None
    source: str
    timezone: str
    start_date: date
    retired_at: datetime | None
    source_config: dict[str, Any]
    connected_at: datetime | None  # google_health: when the grant was made; None: never connected
    grant_refused_at: datetime | None  # google_health: when Google first refused the grant since
    invited_until: datetime | None = None  # google_health: an enrolment link not used yet, and its expiry
    withdrawn_at: datetime | None = None  # when the participant withdrew through their withdrawal link


@dataclass(frozen=True)
class WearStatus:
    user_id: str
    newest_reading: datetime | None
    valid_days_7: int
    valid_days_30: int
    valid_days_total: int
    last_valid_day: date | None


@dataclass(frozen=True)
class WearRecord:
    user_id: str
    date: date
    worn_minutes: int
    first_reading: datetime | None
    last_reading: datetime | None


@dataclass(frozen=True)
class DueDays:
    """The local days on which a participant is expected to wear: ``first`` .. ``last`` (empty when last < first)."""

    user_id: str
    first: date
    last: date


def study_users(conn: psycopg.Connection, scope: Scope) -> list[StudyUser]:
    """The participants in ``scope`` (retired ones included), by id."""
    with conn.cursor(row_factory=class_row(StudyUser)) as cur:
        return cur.execute(query("study_users"), scope.params()).fetchall()


def wear_status(conn: psycopg.Connection, due: list[DueDays], valid_day_minutes: int) -> dict[str, WearStatus]:
    """Each participant's newest reading and valid days (worn minutes >= ``valid_day_minutes``) among its due days."""
    if not due:
        return {}
    params = {
        "user_ids": [d.user_id for d in due],
        "first_due_days": [d.first for d in due],
        "last_due_days": [d.last for d in due],
        "valid_day_minutes": valid_day_minutes,
    }
    with conn.cursor(row_factory=class_row(WearStatus)) as cur:
        return {s.user_id: s for s in cur.execute(query("study_wear_status"), params).fetchall()}


def wear_grid(
    conn: psycopg.Connection, user_ids: list[str], first: date, last: date
) -> dict[str, tuple[list[date], list[int]]]:
    """Per participant with wear records in ``first`` .. ``last``: its loaded days and their worn minutes."""
    rows = conn.execute(query("study_wear_grid"), {"user_ids": user_ids, "first": first, "last": last}).fetchall()
    return {user_id: (days, worn) for user_id, days, worn in rows}


def wear_records(conn: psycopg.Connection, user_ids: list[str], first: date, last: date) -> list[WearRecord]:
    """The wear records of ``user_ids`` in ``first`` .. ``last``, by participant (in the order given) and day."""
    params = {"user_ids": user_ids, "first": first, "last": last}
    return [WearRecord(*row) for row in conn.execute(query("study_wear_records"), params).fetchall()]


def cohort_members(conn: psycopg.Connection, cohort: str) -> frozenset[str]:
    """The participants of ``cohort`` now."""
    return frozenset(row[0] for row in conn.execute(query("study_cohort_members"), {"cohort": cohort}).fetchall())
