"""The user registry (``users`` table): add, change, retire, list, with validation."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import psycopg
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from hr_assets.sources.base import UserProfile
from hr_assets.transform import zone
from hr_assets.warehouse.db import query

# \Z, not $: a $ also matches before a final newline.
USER_ID_RE = re.compile(r"\A[a-z0-9_-]{1,64}\Z")
# Cohort names (a site, an arm) follow the same pattern, as the users table's CHECK does.
COHORT_RE = USER_ID_RE


class UserError(ValueError):
    """A user that cannot be registered or changed as asked; the message says why."""


@dataclass(frozen=True)
class User:
    id: str
    display_name: str
    timezone: str
    source: str
    source_config: dict[str, Any]
    seed: int | None
    start_date: date
    cohort: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    retired_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.retired_at is None

    def profile(self) -> UserProfile:
        return UserProfile(self.id, self.timezone, self.source, self.seed, self.source_config)


@dataclass(frozen=True)
class NewUser:
    id: str
    timezone: str
    start_date: date
    source: str = "simulated"
    display_name: str | None = None
    seed: int | None = None
    source_config: dict[str, Any] = field(default_factory=dict)
    cohort: str | None = None


def validate_user_id(user_id: str) -> str:
    if not USER_ID_RE.match(user_id):
        raise UserError(f"invalid user id {user_id!r}: use 1 to 64 lower-case letters, digits, '_' or '-'")
    return user_id


def validate_cohort(name: str) -> str:
    if not COHORT_RE.match(name):
        raise UserError(f"invalid cohort {name!r}: use 1 to 64 lower-case letters, digits, '_' or '-'")
    return name


def validate_timezone(name: str) -> str:
    try:
        zone(name)
    except ValueError as exc:
        raise UserError(f"{exc} (use a name such as Europe/Berlin or America/New_York)") from exc
    return name


def add_user(conn: psycopg.Connection, user: NewUser, *, known_sources: set[str]) -> User:
    """Register ``user``; refuse an invalid one or an id already taken."""
    validate_user_id(user.id)
    validate_timezone(user.timezone)
    if user.cohort is not None:
        validate_cohort(user.cohort)
    if user.source not in known_sources:
        raise UserError(f"unknown source {user.source!r}; known: {', '.join(sorted(known_sources))}")
    if user.source == "simulated" and user.seed is None:
        raise UserError("a simulated user needs a seed (--seed N)")
    row = conn.execute(
        query("user_insert"),
        {
            "id": user.id,
            "display_name": user.display_name or user.id,
            "timezone": user.timezone,
            "source": user.source,
            "source_config": Jsonb(user.source_config),
            "seed": user.seed,
            "start_date": user.start_date,
            "cohort": user.cohort,
        },
    ).fetchone()
    if row is None:
        raise UserError(f"user {user.id!r} already exists (use 'hr users update' to change it)")
    return get_user(conn, user.id)


def update_user(
    conn: psycopg.Connection,
    user_id: str,
    *,
    known_sources: set[str],
    reactivate: bool = False,
    clear_cohort: bool = False,
    **changes: Any,
) -> User:
    """Change the given fields of ``user_id`` (None keeps one); ``clear_cohort`` takes it out of its cohort."""
    if changes.get("cohort") is not None:
        if clear_cohort:
            raise UserError("give a cohort or leave the cohort, not both")
        validate_cohort(changes["cohort"])
    if changes.get("timezone") is not None:
        validate_timezone(changes["timezone"])
    if changes.get("source") is not None and changes["source"] not in known_sources:
        raise UserError(f"unknown source {changes['source']!r}; known: {', '.join(sorted(known_sources))}")
    params = {key: changes.get(key) for key in ("display_name", "timezone", "source", "seed", "start_date", "cohort")}
    config = changes.get("source_config")
    params.update(id=user_id, reactivate=reactivate, source_config=Jsonb(config) if config is not None else None)
    params.update(clear_cohort=clear_cohort)
    if conn.execute(query("user_update"), params).fetchone() is None:
        raise UserError(f"no user {user_id!r}")
    return get_user(conn, user_id)


def retire_user(conn: psycopg.Connection, user_id: str) -> User:
    """Stop scheduling ``user_id``; its data stays."""
    if conn.execute(query("user_retire"), {"id": user_id}).fetchone() is None:
        raise UserError(f"no user {user_id!r}")
    return get_user(conn, user_id)


def get_user(conn: psycopg.Connection, user_id: str) -> User:
    with conn.cursor(row_factory=class_row(User)) as cur:
        found = cur.execute(query("user_get"), {"id": user_id}).fetchone()
    if found is None:
        raise UserError(f"no user {user_id!r}")
    return found


def list_users(conn: psycopg.Connection, *, include_retired: bool = False) -> list[User]:
    with conn.cursor(row_factory=class_row(User)) as cur:
        return cur.execute(query("user_list"), {"include_retired": include_retired}).fetchall()


def users_by_id(conn: psycopg.Connection, user_ids: list[str]) -> dict[str, User]:
    """The registered users among ``user_ids`` (retired ones included: their history can be re-loaded)."""
    with conn.cursor(row_factory=class_row(User)) as cur:
        return {u.id: u for u in cur.execute(query("users_by_id"), {"ids": user_ids}).fetchall()}
