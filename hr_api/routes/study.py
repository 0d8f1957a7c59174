"""The study view: who is wearing, syncing and connected, per participant x local day and per cohort.

Every route reads the wear records (the intraday load records), never the raw readings, and only the
participants the caller's key may read.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Query, Response

from hr_api.audit import Audit
from hr_api.deps import Caller, State
from hr_api.params import MAX_COMPLIANCE_DAYS, invalid, parse_day
from hr_api.responses import INVALID, KEYED
from hr_api.study_models import Cohorts, Compliance, Participants
from hr_assets.settings import HrSettings
from hr_assets.study import (
    CSV_COLUMNS,
    StudyRules,
    cohort_summaries,
    compliance_csv_rows,
    compliance_grid,
    csv_cell,
    day_range,
)
from hr_assets.study import participant_statuses as read_statuses
from hr_assets.warehouse.study import Scope
from hr_assets.warehouse.users import COHORT_RE

router = APIRouter(prefix="/study", tags=["study"])

# The range without start and end: the last 30 complete days (UTC).
DEFAULT_COMPLIANCE_DAYS = 30
# orjson: datetimes in UTC end in Z, as the contract's examples do.
_JSON_OPTIONS = orjson.OPT_UTC_Z

CohortFilter = Annotated[
    str | None, Query(description="Only this cohort's participants.", examples=["site-a"], max_length=64)
]


def rules(settings: HrSettings) -> StudyRules:
    return StudyRules.from_settings(settings)


def scope(caller: Caller, cohort: str | None) -> Scope:
    if cohort is not None and not COHORT_RE.match(cohort):
        raise invalid("cohort", f"{cohort!r} is not a cohort name (1 to 64 of a-z, 0-9, '_' and '-')")
    return Scope(caller.all_users, caller.user_ids, cohort)


def _json(content: object) -> Response:
    return Response(orjson.dumps(content, option=_JSON_OPTIONS), media_type="application/json")


def compliance_range(start: str | None, end: str | None, today: date) -> tuple[date, date]:
    """The inclusive range asked for; by default the last DEFAULT_COMPLIANCE_DAYS complete days."""
    last = parse_day(end, "end") if end else today - timedelta(days=1)
    first = parse_day(start, "start") if start else last - timedelta(days=DEFAULT_COMPLIANCE_DAYS - 1)
    if last < first:
        raise invalid("end", f"{last} is before start {first}")
    if (last - first).days >= MAX_COMPLIANCE_DAYS:
        raise invalid("end", f"at most {MAX_COMPLIANCE_DAYS} days per request ({(last - first).days + 1} asked for)")
    return first, last


@router.get(
    "/compliance",
    response_model=Compliance,
    responses={
        **KEYED,
        **INVALID,
        200: {
            "content": {"text/csv": {"example": "user_id,cohort,day,worn_minutes,valid,first_reading,last_reading\n"}}
        },
    },
    summary="Worn minutes and valid days per participant x local day (JSON or CSV)",
)
def compliance(
    caller: Caller,
    state: State,
    facts: Audit,
    start: Annotated[
        str | None, Query(description="First local day (default: 30 days before end).", examples=["2026-01-01"])
    ] = None,
    end: Annotated[
        str | None, Query(description="Last local day, included (default: yesterday, UTC).", examples=["2026-03-31"])
    ] = None,
    cohort: CohortFilter = None,
    format: Annotated[Literal["json", "csv"], Query(description="csv: one row per participant x day.")] = "json",
) -> Response:
    now = datetime.now(UTC)
    first, last = compliance_range(start, end, now.date())
    study_rules = rules(state.settings)
    with state.pool.connection() as conn:
        if format == "csv":
            records = list(compliance_csv_rows(conn, scope(caller, cohort), first, last, study_rules))
            facts.participants = list(dict.fromkeys(str(record[0]) for record in records))
            return _csv(records, first, last)
        rows = compliance_grid(conn, scope(caller, cohort), first, last, study_rules, now)
    facts.participants = [row.user_id for row in rows]
    return _json(
        {
            "start": first,
            "end": last,
            "valid_day_minutes": study_rules.valid_day_minutes,
            "days": day_range(first, last),
            "participants": rows,
        }
    )


def _csv(rows: list[tuple[object, ...]], first: date, last: date) -> Response:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow(csv_cell(value) for value in row)
    return Response(
        buffer.getvalue(),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="compliance_{first}_{last}.csv"'},
    )


@router.get(
    "/participants",
    response_model=Participants,
    responses={**KEYED, **INVALID},
    summary="Each participant's connection, newest reading, valid days and flags",
)
def participants(caller: Caller, state: State, facts: Audit, cohort: CohortFilter = None) -> Response:
    now = datetime.now(UTC)
    study_rules = rules(state.settings)
    with state.pool.connection() as conn:
        statuses = read_statuses(conn, scope(caller, cohort), study_rules, now)
    facts.participants = [s.user_id for s in statuses]
    return _json(
        {
            "as_of": now,
            "valid_day_minutes": study_rules.valid_day_minutes,
            "flag_no_valid_day_days": study_rules.flag_no_valid_day_days,
            "flag_no_data_days": study_rules.flag_no_data_days,
            "participants": statuses,
        }
    )


@router.get(
    "/cohorts",
    response_model=Cohorts,
    responses={**KEYED, **INVALID},
    summary="One line per cohort: participants, flagged, mean valid days of the last 7, newest reading",
)
def cohorts(caller: Caller, state: State, facts: Audit, cohort: CohortFilter = None) -> Response:
    now = datetime.now(UTC)
    with state.pool.connection() as conn:
        statuses = read_statuses(conn, scope(caller, cohort), rules(state.settings), now)
    facts.participants = [s.user_id for s in statuses]
    return _json({"cohorts": cohort_summaries(statuses)})
