"""Query parameters as the API accepts them, with errors that name the parameter.

Each rule is written once, as a regular expression in the dialect both Python's ``re`` and the OpenAPI
schema's (ECMA-262) read the same way ([0-9], not \\d); the parsers enforce it and the schema states it
(``*_SCHEMA``, for ``Query(json_schema_extra=...)``), so clients and fuzzers see the rules the API checks.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import HTTPException, Query, status

from hr_assets.warehouse.readings import Resolution

# The API's limits, published at GET /limits so that clients (the dashboard) do not repeat them.
MAX_USERS = 20
DEFAULT_MAX_POINTS = 2_000
MAX_POINTS_LIMIT = 20_000
# Ten years of local days in one /summary request.
MAX_SUMMARY_DAYS = 3660
# Days one /study/compliance request may cover: three years, the longest study the dashboard draws.
MAX_COMPLIANCE_DAYS = 1100
# The warehouse's user-id rule (hr_assets.warehouse.users.USER_ID_RE): 1 to 64 of a-z, 0-9, '_' and '-'.
USER_ID_MAX_LENGTH = 64
USER_ID = f"[a-z0-9_-]{{1,{USER_ID_MAX_LENGTH}}}"
USER_IDS = f"{USER_ID}(,{USER_ID}){{0,{MAX_USERS - 1}}}"
# ISO 8601 as datetime.fromisoformat reads it: a date of the years 1 to 9999 (the days each month has; 29
# February in any year, the one rule a pattern leaves to the parser), optionally a time (seconds and up to
# six decimals optional) and an offset or Z.
_YEAR = "(000[1-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-9][0-9]{3})"
_MONTH_DAY = "((0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])|(0[13-9]|1[0-2])-(29|30)|(0[13578]|1[02])-31|02-29)"
_DAY = f"{_YEAR}-{_MONTH_DAY}"
_TIME = "([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9]([.][0-9]{1,6})?)?"
_OFFSET = "(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])"
INSTANT = f"{_DAY}([T ]{_TIME}{_OFFSET}?)?"


def pattern_schema(rule: str, max_length: int | None = None) -> dict[str, Any]:
    """The OpenAPI statement of ``rule`` (a whole-value match), with its length bounds."""
    schema: dict[str, Any] = {"pattern": f"^{rule}$", "minLength": 1}
    if max_length is not None:
        schema["maxLength"] = max_length
    return schema


USER_ID_SCHEMA = pattern_schema(USER_ID, USER_ID_MAX_LENGTH)
USER_IDS_SCHEMA = pattern_schema(USER_IDS, MAX_USERS * (USER_ID_MAX_LENGTH + 1) - 1)
INSTANT_SCHEMA = pattern_schema(INSTANT)
_USER_ID_RE, _INSTANT_RE = re.compile(USER_ID), re.compile(INSTANT)


def invalid(parameter: str, message: str) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=f"{parameter}: {message}")


def parse_instant(value: str, parameter: str) -> datetime:
    """A date (its 00:00 UTC) or an ISO 8601 date-time with or without offset or ``Z``; naive means UTC."""
    try:
        parsed = _iso(value)
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
    try:
        return _iso(value).date()
    except ValueError:
        raise invalid(parameter, f"{value!r} is not a date (2025-06-01)") from None


def _iso(value: str) -> datetime:
    """``value`` read as INSTANT; ValueError if it is not one (or names no real day, as 2025-02-30)."""
    if not _INSTANT_RE.fullmatch(value):
        raise ValueError(value)
    return datetime.fromisoformat(value)


def parse_user_id(value: str, parameter: str = "user_id") -> str:
    if not _USER_ID_RE.fullmatch(value):
        raise invalid(parameter, f"{value!r} is not a user id (1 to 64 of a-z, 0-9, '_' and '-')")
    return value


def parse_user_ids(value: str) -> list[str]:
    """Comma-separated user ids (USER_IDS: no spaces, no empty ones), in the order given, each once."""
    if not value:
        raise invalid("user_ids", "name at least one user (user_ids=user1,user2)")
    ids = value.split(",")
    if len(ids) > MAX_USERS:
        raise invalid("user_ids", f"{len(ids)} users asked for; at most {MAX_USERS} per request")
    # Each part a user id and at most MAX_USERS of them: USER_IDS, checked a part at a time to say which is wrong.
    return list(dict.fromkeys(parse_user_id(user_id, "user_ids") for user_id in ids))


# The query parameters the routes share: each route module takes them from here, never from another route.
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
UserIds = Annotated[
    str,
    Query(
        description=f"Comma-separated user ids (at most {MAX_USERS}).",
        examples=["user1,user2"],
        json_schema_extra=USER_IDS_SCHEMA,
    ),
]
Interval = Annotated[
    Resolution | None,
    Query(description="1s (raw readings), 1m, 1h or 1d (the user's local days). Unset: the finest that fits."),
]
MaxPoints = Annotated[
    int,
    Query(ge=1, le=MAX_POINTS_LIMIT, description="Most points to return (all users together)."),
]
