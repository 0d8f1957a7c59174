"""Query parameters as the API accepts them, with errors that name the parameter."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

from fastapi import HTTPException, Query, status

from hr_assets.warehouse.readings import Resolution
from hr_assets.warehouse.users import USER_ID_RE

# The API's limits, published at GET /limits so that clients (the dashboard) do not repeat them.
MAX_USERS = 20
DEFAULT_MAX_POINTS = 2_000
MAX_POINTS_LIMIT = 20_000
# Ten years of local days in one /summary request.
MAX_SUMMARY_DAYS = 3660
# Days one /study/compliance request may cover: three years, the longest study the dashboard draws.
MAX_COMPLIANCE_DAYS = 1100


def invalid(parameter: str, message: str) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=f"{parameter}: {message}")


def parse_instant(value: str, parameter: str) -> datetime:
    """A date (its 00:00 UTC) or an ISO 8601 date-time with or without offset or ``Z``; naive means UTC."""
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise invalid(
            parameter, f"{value!r} is not a date (2025-06-01) or an ISO 8601 date-time (2025-06-01T10:00:00Z)"
        ) from None
    try:
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00 is in year 0 in UTC
        raise invalid(parameter, f"{value!r} is outside the years 1 to 9999 in UTC") from None


def parse_range(start_date: str, end_date: str) -> tuple[datetime, datetime]:
    start, end = parse_instant(start_date, "start_date"), parse_instant(end_date, "end_date")
    if end <= start:
        raise invalid("end_date", f"{end.isoformat()} is not after start_date {start.isoformat()}")
    return start, end


def parse_day(value: str, parameter: str) -> date:
    """A local calendar date; a date-time is cut to its date as written (its offset is ignored)."""
    text = value.strip()
    try:
        return datetime.fromisoformat(text).date()
    except ValueError:
        raise invalid(parameter, f"{value!r} is not a date (2025-06-01)") from None


def parse_user_id(value: str, parameter: str = "user_id") -> str:
    if not USER_ID_RE.match(value):
        raise invalid(parameter, f"{value!r} is not a user id (1 to 64 of a-z, 0-9, '_' and '-')")
    return value


def parse_user_ids(value: str) -> list[str]:
    """Comma-separated user ids, in the order given, each once."""
    ids = [part.strip() for part in value.split(",") if part.strip()]
    if not ids:
        raise invalid("user_ids", "name at least one user (user_ids=user1,user2)")
    unique = list(dict.fromkeys(parse_user_id(user_id, "user_ids") for user_id in ids))
    if len(unique) > MAX_USERS:
        raise invalid("user_ids", f"{len(unique)} users asked for; at most {MAX_USERS} per request")
    return unique


# The query parameters the routes share: each route module takes them from here, never from another route.
StartDate = Annotated[
    str,
    Query(
        description="Start of the range: a date (its 00:00 UTC) or an ISO 8601 date-time; without an offset it is UTC.",
        examples=["2025-06-01", "2025-06-01T08:00:00Z", "2025-06-01T10:00:00+02:00"],
    ),
]
EndDate = Annotated[
    str,
    Query(
        description="End of the range (exclusive), in the same forms; after start_date.",
        examples=["2025-06-02", "2025-06-01T18:00:00Z", "2025-06-01T12:00:00+02:00"],
    ),
]
UserId = Annotated[str, Query(description="The user.", examples=["user1"])]
Interval = Annotated[
    Resolution | None,
    Query(description="1s (raw readings), 1m, 1h or 1d (the user's local days). Unset: the finest that fits."),
]
MaxPoints = Annotated[
    int,
    Query(ge=1, le=MAX_POINTS_LIMIT, description="Most points to return (all users together)."),
]
