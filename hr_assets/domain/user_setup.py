"""The defaults ``hr`` gives users: the demo users of a new registry, the first date a user loads."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from hr_assets.sources import SOURCES, UserProfile
from hr_assets.warehouse.db import Connection
from hr_assets.warehouse.users import NewUser, add_user, list_users

# The demo users `hr setup` registers into an empty registry (`make run`): seeds and zones.
DEFAULT_USERS: tuple[dict[str, Any], ...] = (
    {"id": "user1", "seed": 23, "timezone": "Europe/Berlin"},
    {"id": "user2", "seed": 37, "timezone": "America/New_York"},
)
# Days of history the demo users get, and a user whose source cannot say where its data begins.
DEFAULT_USERS_HISTORY_DAYS = 30


def default_start_date(profile: UserProfile, today: date) -> date:
    """The first date to load for a new user: its source's first date, else ``today`` less the default history."""
    available = SOURCES[profile.source].available_dates(profile) if profile.source in SOURCES else None
    return available.first if available else today - timedelta(days=DEFAULT_USERS_HISTORY_DAYS)


def register_default_users(conn: Connection, today: date) -> list[str]:
    """Register the demo users, only into an empty registry (an operator's choices stand); their ids."""
    if list_users(conn, include_retired=True):
        return []
    start = today - timedelta(days=DEFAULT_USERS_HISTORY_DAYS)
    for spec in DEFAULT_USERS:
        add_user(conn, NewUser(spec["id"], spec["timezone"], start, seed=spec["seed"]), known_sources=SOURCES.kinds)
    return [spec["id"] for spec in DEFAULT_USERS]
