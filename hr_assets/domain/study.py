"""The study view's rules: which days are due, whether a participant is connected, which flags it raises.

Plain functions over the warehouse's rows (:mod:`hr_assets.warehouse.study`), shared by the API's
``/study`` routes, ``hr study status`` and the monitoring of flagged participants. docs/study.md
states the rules.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from statistics import fmean

from hr_assets.settings import HrSettings
from hr_assets.warehouse.db import Connection
from hr_assets.warehouse.study import (
    DueDays,
    Scope,
    StudyUser,
    WearStatus,
    study_users,
    wear_grid,
    wear_records,
    wear_status,
)
from hr_assets.warehouse.user_day import zone

# The flags, in the order a participant's list shows them.
NO_VALID_DAY = "no_valid_day"
NO_DATA = "no_data"
NEEDS_RECONNECT = "needs_reconnect"
FLAGS = (NO_VALID_DAY, NO_DATA, NEEDS_RECONNECT)

CONNECTED = "connected"
NEVER_CONNECTED = "never_connected"
INVITED = "invited"
WITHDRAWN = "withdrawn"
FOLDER_MISSING = "folder_missing"
FOLDER_UNREADABLE = "folder_unreadable"
NOT_APPLICABLE = "not_applicable"


@dataclass(frozen=True)
class StudyRules:
    """The settings the view applies when it reads (HR_VALID_DAY_MINUTES, HR_FLAG_*_DAYS)."""

    valid_day_minutes: int
    flag_no_valid_day_days: int
    flag_no_data_days: int

    @classmethod
    def from_settings(cls, settings: HrSettings) -> StudyRules:
        return cls(settings.valid_day_minutes, settings.flag_no_valid_day_days, settings.flag_no_data_days)


@dataclass(frozen=True)
class ParticipantStatus:
    user_id: str
    cohort: str | None
    source: str
    timezone: str
    retired: bool
    connection: str
    connection_since: datetime | None
    newest_reading: datetime | None
    days_since_reading: int | None
    valid_days_7: int
    valid_days_30: int
    valid_days_total: int
    flags: tuple[str, ...]


@dataclass(frozen=True)
class ComplianceRow:
    """One participant's row of the grid: worn minutes per day of the range (None: no wear record)."""

    user_id: str
    cohort: str | None
    first_due_day: date
    last_due_day: date | None  # None: no day was ever due (retired before its start date)
    worn_minutes: list[int | None]
    valid: list[bool | None]


@dataclass(frozen=True)
class CohortSummary:
    cohort: str | None
    participants: int
    flagged: int
    valid_days_7_mean: float | None
    newest_reading: datetime | None


def local_today(timezone: str, as_of: datetime) -> date:
    """The calendar date in ``timezone`` at the instant ``as_of``."""
    return as_of.astimezone(zone(timezone)).date()


def due_days(user: StudyUser, as_of: datetime) -> DueDays:
    """The participant's due days: from its start date to its newest complete local day, or to the day before
    it was retired (retired participants are no longer loaded)."""
    last = local_today(user.timezone, as_of) - timedelta(days=1)
    if user.retired_at is not None:
        last = min(last, local_today(user.timezone, user.retired_at) - timedelta(days=1))
    return DueDays(user.user_id, user.start_date, last)


def connection_state(user: StudyUser, as_of: datetime) -> tuple[str, datetime | None]:
    """How the participant's data reaches the pipeline, and since when (until when, for an invitation)."""
    if user.withdrawn_at is not None:
        return WITHDRAWN, user.withdrawn_at
    if user.retired_at is not None:
        return WITHDRAWN, user.retired_at
    if user.source == "google_health":
        invited = user.invited_until is not None and user.invited_until > as_of
        if invited and (user.connected_at is None or user.grant_refused_at is not None):
            return INVITED, user.invited_until  # (re-)invited, not (or no longer) connected
        if user.connected_at is None:
            return NEVER_CONNECTED, None
        if user.grant_refused_at is not None:
            return NEEDS_RECONNECT, user.grant_refused_at
        return CONNECTED, user.connected_at
    if user.source == "fitbit_export":
        return folder_state(user.source_config.get("path")), None
    return NOT_APPLICABLE, None


def folder_state(path: object) -> str:
    """An export folder as the loader would find it: missing, unreadable (cannot be listed), or there."""
    if not isinstance(path, str) or not Path(path).is_dir():
        return FOLDER_MISSING
    if not os.access(path, os.R_OK | os.X_OK):
        return FOLDER_UNREADABLE
    return CONNECTED


def flags(
    due: DueDays, wear: WearStatus | None, newest_local_day: date | None, connection: str, rules: StudyRules
) -> tuple[str, ...]:
    """The participant's flags, in FLAGS order.

    A flag counts due days only: ``no_valid_day`` when the last ``flag_no_valid_day_days`` due days hold no
    valid day, ``no_data`` when the last ``flag_no_data_days`` due days hold no reading (a participant who
    started yesterday is not flagged for the days before). Withdrawn participants raise none.
    """
    if connection == WITHDRAWN:
        return ()
    before_start = due.first - timedelta(days=1)
    raised = []
    last_valid = wear.last_valid_day if wear and wear.last_valid_day else before_start
    if (due.last - max(last_valid, before_start)).days >= rules.flag_no_valid_day_days:
        raised.append(NO_VALID_DAY)
    last_data = newest_local_day or before_start
    if (due.last - max(last_data, before_start)).days >= rules.flag_no_data_days:
        raised.append(NO_DATA)
    if connection == NEEDS_RECONNECT:
        raised.append(NEEDS_RECONNECT)
    return tuple(raised)


def participant_statuses(conn: Connection, scope: Scope, rules: StudyRules, as_of: datetime) -> list[ParticipantStatus]:
    """The status of every participant in ``scope`` at ``as_of``, by id: two queries, the wear records only."""
    users = study_users(conn, scope)
    due = {u.user_id: due_days(u, as_of) for u in users}
    wear = wear_status(conn, list(due.values()), rules.valid_day_minutes)
    return [_status(u, due[u.user_id], wear.get(u.user_id), rules, as_of) for u in users]


def _status(
    user: StudyUser, due: DueDays, wear: WearStatus | None, rules: StudyRules, as_of: datetime
) -> ParticipantStatus:
    connection, since = connection_state(user, as_of)
    newest = wear.newest_reading if wear else None
    newest_day = local_today(user.timezone, newest) if newest else None
    today = local_today(user.timezone, as_of)
    return ParticipantStatus(
        user_id=user.user_id,
        cohort=user.cohort,
        source=user.source,
        timezone=user.timezone,
        retired=user.retired_at is not None,
        connection=connection,
        connection_since=since,
        newest_reading=newest,
        days_since_reading=(today - newest_day).days if newest_day else None,
        valid_days_7=wear.valid_days_7 if wear else 0,
        valid_days_30=wear.valid_days_30 if wear else 0,
        valid_days_total=wear.valid_days_total if wear else 0,
        flags=flags(due, wear, newest_day, connection, rules),
    )


def cohort_summaries(statuses: Iterable[ParticipantStatus]) -> list[CohortSummary]:
    """One line per cohort (participants without one together, as cohort None, last)."""
    by_cohort: dict[str | None, list[ParticipantStatus]] = {}
    for status in statuses:
        by_cohort.setdefault(status.cohort, []).append(status)
    return [
        CohortSummary(
            cohort=cohort,
            participants=len(members),
            flagged=sum(1 for m in members if m.flags),
            valid_days_7_mean=round(fmean(m.valid_days_7 for m in members), 2) if members else None,
            newest_reading=max((m.newest_reading for m in members if m.newest_reading), default=None),
        )
        for cohort, members in sorted(by_cohort.items(), key=lambda item: (item[0] is None, item[0] or ""))
    ]


def flagged_by_cohort(statuses: Iterable[ParticipantStatus]) -> dict[str | None, dict[str, list[str]]]:
    """Per cohort (None: without one) and flag, the flagged participants' ids; every flag of a cohort present."""
    found: dict[str | None, dict[str, list[str]]] = {}
    for status in statuses:
        by_flag = found.setdefault(status.cohort, {flag: [] for flag in FLAGS})
        for flag in status.flags:
            by_flag[flag].append(status.user_id)
    return found


def flagged_first(statuses: list[ParticipantStatus]) -> list[ParticipantStatus]:
    """Flagged participants first (most flags first), then the rest, each by id."""
    return sorted(statuses, key=lambda s: (-len(s.flags), s.user_id))


def day_range(first: date, last: date) -> list[date]:
    """Every local day from ``first`` to ``last``, both included."""
    return [first + timedelta(days=offset) for offset in range((last - first).days + 1)]


def compliance_grid(
    conn: Connection, scope: Scope, first: date, last: date, rules: StudyRules, as_of: datetime
) -> list[ComplianceRow]:
    """The participant x day grid of ``first`` .. ``last`` for everyone in ``scope``, by id."""
    users = study_users(conn, scope)
    grid = wear_grid(conn, [u.user_id for u in users], first, last)
    width = (last - first).days + 1
    rows = []
    for user in users:
        worn: list[int | None] = [None] * width
        days, minutes = grid.get(user.user_id, ([], []))
        for day, value in zip(days, minutes, strict=True):
            worn[(day - first).days] = value
        due = due_days(user, as_of)
        rows.append(
            ComplianceRow(
                user_id=user.user_id,
                cohort=user.cohort,
                first_due_day=due.first,
                last_due_day=due.last if due.last >= due.first else None,
                worn_minutes=worn,
                valid=[None if w is None else w >= rules.valid_day_minutes for w in worn],
            )
        )
    return rows


CSV_COLUMNS = ("user_id", "cohort", "day", "worn_minutes", "valid", "first_reading", "last_reading")


def csv_instant(value: datetime | None) -> str:
    """An instant as the CSV shows it: in UTC with Z; empty for none."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value is not None else ""


def compliance_csv_rows(
    conn: Connection, scope: Scope, first: date, last: date, rules: StudyRules
) -> Iterable[tuple[str, ...]]:
    """The grid as CSV_COLUMNS rows of text: every participant x day, empty cells where there is no record,
    true/false, instants in UTC with Z."""
    users = study_users(conn, scope)
    records = iter(wear_records(conn, [u.user_id for u in users], first, last))
    record = next(records, None)
    days = [(day, day.isoformat()) for day in day_range(first, last)]
    for user in users:
        cohort = user.cohort or ""
        for day, day_text in days:
            if record is None or (record.user_id, record.date) != (user.user_id, day):
                yield (user.user_id, cohort, day_text, "", "", "", "")
                continue
            yield (
                user.user_id,
                cohort,
                day_text,
                str(record.worn_minutes),
                "true" if record.worn_minutes >= rules.valid_day_minutes else "false",
                csv_instant(record.first_reading),
                csv_instant(record.last_reading),
            )
            record = next(records, None)
