"""The daily summary: resting heart rate, zones, coverage and quarantine per local day."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from hr_api.audit import AUDITED
from hr_api.deps import Caller, State, not_found
from hr_api.models import Summary, SummaryDay, Zone
from hr_api.params import INSTANT_SCHEMA, MAX_SUMMARY_DAYS, UserId, invalid, parse_day, parse_user_id
from hr_api.responses import SERIES
from hr_assets.warehouse import readings

# Every route here returns participant data: each request is audited (hr_api/audit.py).
router = APIRouter(dependencies=[AUDITED])


def _zones(fitbit_zones: list[dict[str, Any]] | None) -> list[Zone]:
    """Fitbit's zone objects (name, min, max, minutes, caloriesOut) in the API's shape."""
    return [
        Zone(
            name=str(z.get("name", "")),
            min=z.get("min"),
            max=z.get("max"),
            minutes=z.get("minutes"),
            calories_out=z.get("caloriesOut"),
        )
        for z in fitbit_zones or []
    ]


def _calories(zones: list[Zone]) -> float | None:
    values = [z.calories_out for z in zones if z.calories_out is not None]
    return round(sum(values), 2) if values else None


@router.get("/summary", response_model=Summary, responses=SERIES, summary="One user's days: rest, zones, coverage")
def summary(
    caller: Caller,
    state: State,
    user_id: UserId,
    start_date: Annotated[
        str,
        Query(
            description="First local date (YYYY-MM-DD; a date-time is cut to its date).",
            examples=["2025-06-01"],
            json_schema_extra=INSTANT_SCHEMA,
        ),
    ],
    end_date: Annotated[
        str, Query(description="Last local date, inclusive.", examples=["2025-06-07"], json_schema_extra=INSTANT_SCHEMA)
    ],
) -> Summary:
    parse_user_id(user_id)
    first, last = parse_day(start_date, "start_date"), parse_day(end_date, "end_date")
    if last < first:
        raise invalid("end_date", f"{last} is before start_date {first}")
    if (last - first).days >= MAX_SUMMARY_DAYS:
        raise invalid("end_date", f"at most {MAX_SUMMARY_DAYS} days per request")
    if not caller.may_read(user_id):
        raise not_found(user_id)
    # The user's registration and their days in one round trip.
    with state.pool.connection() as conn:
        extent, found = readings.read_summary(conn, user_id, first, last)
    if extent is None:
        raise not_found(user_id)
    days = []
    for day in found:
        zones = _zones(day.heart_rate_zones)
        days.append(
            SummaryDay(
                date=day.date,
                resting_heart_rate=day.resting_heart_rate,
                zones=zones,
                custom_zones=_zones(day.custom_heart_rate_zones),
                calories_out=_calories(zones),
                coverage=day.coverage,
                rows_quarantined=day.rows_quarantined,
            )
        )
    return Summary(user_id=user_id, timezone=extent.timezone, data=days)
