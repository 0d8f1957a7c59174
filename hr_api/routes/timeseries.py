"""Heart rate over a range, for one user or several, at the resolution that fits."""

from __future__ import annotations

from collections.abc import Mapping

import orjson
from fastapi import APIRouter, Response

from hr_api.audit import AUDITED
from hr_api.deps import Caller, State, require_readable
from hr_api.models import MultiUserTimeseries, Timeseries
from hr_api.params import (
    DEFAULT_MAX_POINTS,
    EndDate,
    Interval,
    MaxPoints,
    StartDate,
    UserId,
    UserIds,
    invalid,
    parse_range,
    parse_user_id,
    parse_user_ids,
)
from hr_api.resolution import TooManyPoints, read_planned
from hr_api.responses import SERIES
from hr_assets.warehouse.readings import LEVELS, Resolution, UserExtent, UserPoints

# Every route here returns participant data: each request is audited (hr_api/audit.py).
router = APIRouter(dependencies=[AUDITED])


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

    def check(extents: Mapping[str, UserExtent]) -> None:
        require_readable(caller, user_ids, set(extents))

    # Nothing is read ahead for a caller that may not read every user asked for (check refuses it).
    read_ahead = all(caller.may_read(user_id) for user_id in user_ids)
    with state.pool.connection() as conn:
        try:
            served = read_planned(conn, interval, user_ids, start, end, max_points, check, read_ahead=read_ahead)
        except TooManyPoints as exc:
            raise invalid("interval" if interval else "max_points", str(exc)) from None
    chosen, by_user = served.plan, served.points
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
    user_ids: UserIds,
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
