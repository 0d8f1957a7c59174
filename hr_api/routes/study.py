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
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.routing import APIRoute

from hr_api.audit import Audit, AuditFacts
from hr_api.deps import Caller, State
from hr_api.params import MAX_COMPLIANCE_DAYS, invalid, parse_day
from hr_api.responses import INVALID, KEYED
from hr_api.study_models import Cohorts, Compliance, Participants
from hr_assets.domain.study import (
    CSV_COLUMNS,
    ParticipantStatus,
    StudyRules,
    cohort_summaries,
    compliance_csv_rows,
    compliance_grid,
    day_range,
)
from hr_assets.domain.study import participant_statuses as read_statuses
from hr_assets.settings import HrSettings
from hr_assets.warehouse.study import Scope
from hr_assets.warehouse.users import COHORT_RE


async def only_known_parameters(request: Request, caller: Caller) -> None:
    """422 for a query parameter the route does not take, or one given twice: every study parameter is optional,
    so a misspelt one (``strat=``) would otherwise answer the default silently, and of two values one would be
    dropped. After the key check (``caller``): 401 comes first."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    known = {param.alias for param in route.dependant.query_params}  # the routes here take no others
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        raise invalid(unknown[0], f"not a parameter of {route.path} (it takes {', '.join(sorted(known))})")
    repeated = sorted(name for name in known if len(request.query_params.getlist(name)) > 1)
    if repeated:
        raise invalid(repeated[0], "given more than once")


router = APIRouter(prefix="/study", tags=["study"], dependencies=[Depends(only_known_parameters)])

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
            facts.participants = list(dict.fromkeys(record[0] for record in records))
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


def _csv(rows: list[tuple[str, ...]], first: date, last: date) -> Response:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows(rows)
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
    statuses = _statuses(caller, state, facts, cohort, now)
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
    return _json({"cohorts": cohort_summaries(_statuses(caller, state, facts, cohort, datetime.now(UTC)))})


def _statuses(
    caller: Caller, state: State, facts: AuditFacts, cohort: str | None, now: datetime
) -> list[ParticipantStatus]:
    """The status of each participant in scope at ``now``; the audit row names them."""
    with state.pool.connection() as conn:
        statuses = read_statuses(conn, scope(caller, cohort), rules(state.settings), now)
    facts.participants = [s.user_id for s in statuses]
    return statuses
