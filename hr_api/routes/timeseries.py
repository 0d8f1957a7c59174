"""Heart rate over a range, for one user or several, at the resolution that fits."""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Query, Response

from hr_api.deps import Caller, State, require_readable
from hr_api.models import MultiUserTimeseries, Timeseries
from hr_api.params import (
    DEFAULT_MAX_POINTS,
    INSTANT_SCHEMA,
    MAX_POINTS_LIMIT,
    USER_ID_SCHEMA,
    USER_IDS_SCHEMA,
    invalid,
    parse_range,
    parse_user_id,
    parse_user_ids,
)
from hr_api.resolution import Plan, TooManyPoints, plan
from hr_api.responses import SERIES
from hr_assets.warehouse import readings
from hr_assets.warehouse.readings import LEVELS, Resolution, UserPoints

router = APIRouter()

StartDate = Annotated[
    str,
    Query(
        description="Start of the range: a date (its 00:00 UTC) or an ISO 8601 date-time; without an offset it is UTC.",
        examples=["2025-06-01", "2025-06-01T08:00:00Z", "2025-06-01T10:00:00+02:00"],
        json_schema_extra=INSTANT_SCHEMA,
    ),
]
EndDate = Annotated[
    str,
    Query(
        description="End of the range (exclusive), in the same forms; after start_date.",
        examples=["2025-06-02", "2025-06-01T18:00:00Z", "2025-06-01T12:00:00+02:00"],
        json_schema_extra=INSTANT_SCHEMA,
    ),
]
UserId = Annotated[str, Query(description="The user.", examples=["user1"], json_schema_extra=USER_ID_SCHEMA)]
Interval = Annotated[
    Resolution | None,
    Query(description="1s (raw readings), 1m, 1h or 1d (the user's local days). Unset: the finest that fits."),
]
MaxPoints = Annotated[
    int,
    Query(ge=1, le=MAX_POINTS_LIMIT, description="Most points to return (all users together)."),
]


def _series(
    state: State,
    caller: Caller,
    user_ids: list[str],
    start_date: str,
    end_date: str,
    interval: Resolution | None,
    max_points: int,
) -> tuple[dict[str, UserPoints], bytes]:
    """Each user's points and the response's metadata, encoded."""
    start, end = parse_range(start_date, end_date)
    with state.pool.connection() as conn:
        extents = readings.user_extents(conn, user_ids)
        require_readable(caller, user_ids, set(extents))
        try:
            chosen: Plan = plan(interval, extents, start, end, max_points, readings.PointCounts(conn, user_ids))
        except TooManyPoints as exc:
            raise invalid("interval" if interval else "max_points", str(exc)) from None
        by_user = readings.points(conn, chosen.resolution, user_ids, start, end)
    level = LEVELS[chosen.resolution]
    metadata = {
        "query_info": {
            "table_used": level.relation,
            "table_description": level.description,
            "interval": chosen.resolution.value,
            "resolution": level.label,
            "auto": chosen.auto,
            "point_count": sum(p.count for p in by_user.values()),
            "estimated_points": chosen.estimated_points,
            "max_points": max_points,
            "start": start,
            "end": end,
            "users": user_ids,
        }
    }
    return by_user, orjson.dumps(metadata)


def _json(body: bytes) -> Response:
    return Response(content=body, media_type="application/json")


@router.get("/timeseries", response_model=Timeseries, responses=SERIES, summary="One user's heart rate in a range")
def timeseries(
    caller: Caller,
    state: State,
    start_date: StartDate,
    end_date: EndDate,
    user_id: UserId,
    interval: Interval = None,
    max_points: MaxPoints = DEFAULT_MAX_POINTS,
) -> Response:
    user_ids = [parse_user_id(user_id)]
    by_user, metadata = _series(state, caller, user_ids, start_date, end_date, interval, max_points)
    found = by_user.get(user_ids[0])
    points = found.json.encode() if found else b"[]"
    return _json(b'{"data":' + points + b',"metadata":' + metadata + b"}")


@router.get(
    "/multi-user/timeseries",
    response_model=MultiUserTimeseries,
    responses=SERIES,
    summary="Several users' heart rate in a range, at one resolution",
)
def multi_user_timeseries(
    caller: Caller,
    state: State,
    start_date: StartDate,
    end_date: EndDate,
    user_ids: Annotated[
        str,
        Query(
            description="Comma-separated user ids (at most 20).",
            examples=["user1,user2"],
            json_schema_extra=USER_IDS_SCHEMA,
        ),
    ],
    interval: Interval = None,
    max_points: MaxPoints = DEFAULT_MAX_POINTS,
) -> Response:
    ids = parse_user_ids(user_ids)
    by_user, metadata = _series(state, caller, ids, start_date, end_date, interval, max_points)
    series = []
    for user_id in ids:
        found = by_user.get(user_id)
        head = orjson.dumps(user_id)
        points, count = (found.json.encode(), found.count) if found else (b"[]", 0)
        series.append(b'{"user_id":' + head + b',"data":' + points + b',"count":' + str(count).encode() + b"}")
    return _json(b'{"data":[' + b",".join(series) + b'],"metadata":' + metadata + b"}")
