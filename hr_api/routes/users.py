"""The users registry, as far as the caller's key reaches."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path

from hr_api.audit import AUDITED
from hr_api.deps import Caller, State, not_found
from hr_api.models import UserDetail, UserList
from hr_api.params import USER_ID_SCHEMA, parse_user_id
from hr_api.responses import INVALID, KEYED, NOT_FOUND
from hr_assets.warehouse.invitations import participant_states
from hr_assets.warehouse.readings import reading_days, user_extents
from hr_assets.warehouse.users import UserError, get_user, list_users

router = APIRouter()


@router.get("/users", response_model=UserList, responses=KEYED, summary="Registered users (retired ones included)")
def users(caller: Caller, state: State) -> UserList:
    with state.pool.connection() as conn:
        registered = list_users(conn, include_retired=True)
    readable = [u for u in registered if caller.may_read(u.id)]
    return UserList(
        users=[u.id for u in readable],
        cohorts={u.id: u.cohort for u in readable},
        total_count=len(readable),
        last_updated=max((u.updated_at for u in readable if u.updated_at), default=None),
    )


@router.get(
    "/users/{user_id}",
    response_model=UserDetail,
    responses={**KEYED, **NOT_FOUND, **INVALID},
    summary="One user",
    dependencies=[AUDITED],
)
def user(
    user_id: Annotated[str, Path(description="The user.", examples=["user1"], json_schema_extra=USER_ID_SCHEMA)],
    caller: Caller,
    state: State,
) -> UserDetail:
    parse_user_id(user_id)
    if not caller.may_read(user_id):
        raise not_found(user_id)
    with state.pool.connection() as conn:
        try:
            found = get_user(conn, user_id)
        except UserError:
            raise not_found(user_id) from None
        extent = user_extents(conn, [user_id])[user_id]
        days = reading_days(conn, user_id)
        connection = participant_states(conn, [user_id], datetime.now(UTC)).get(user_id)
    return UserDetail(
        user_id=found.id,
        display_name=found.display_name,
        timezone=found.timezone,
        source=found.source,
        cohort=found.cohort,
        start_date=found.start_date,
        retired=found.retired_at is not None,
        retired_at=found.retired_at,
        first_reading=extent.first_reading,
        last_reading=extent.last_reading,
        days_with_data=days,
        connection=connection.describe() if connection else None,
    )
