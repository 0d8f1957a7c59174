"""``hr users import FILE``: a study's roster (CSV) registered in one go.

Columns (a header row names them, in any order): ``id``, ``timezone``, ``source``, ``settings``
(a JSON object of the source's settings, may be empty), ``start_date`` (YYYY-MM-DD, may be empty:
the source's first day with data, else 30 days ago); optional ``name``, ``seed`` and ``cohort`` (the study
cohort, a site or an arm; empty: none). Every row is
checked before anything is written; each bad row is reported with its line and every reason,
and the good rows are registered in one transaction.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import psycopg

from hr_assets.sources import SourceRegistry, UserProfile
from hr_assets.warehouse.users import (
    NewUser,
    UserError,
    add_user,
    validate_cohort,
    validate_timezone,
    validate_user_id,
)

REQUIRED_COLUMNS = ("id", "timezone", "source", "settings", "start_date")
OPTIONAL_COLUMNS = ("name", "seed", "cohort")
# A start date left empty, for a source that does not know its first day: this many days back.
DEFAULT_HISTORY_DAYS = 30


@dataclass(frozen=True)
class RowError:
    line: int
    user_id: str
    reasons: list[str]

    def __str__(self) -> str:
        who = f" ({self.user_id})" if self.user_id else ""
        return f"line {self.line}{who}: {'; '.join(self.reasons)}"


class RosterError(ValueError):
    """The file cannot be read as a roster at all (no header, missing columns)."""


def parse_roster(
    text: str, sources: SourceRegistry, registered: set[str], today: date | None = None
) -> tuple[list[NewUser], list[RowError]]:
    """The users of the good rows, and an error for each bad row (``registered``: ids already taken)."""
    reader = csv.DictReader(io.StringIO(text))
    header = [name.strip() for name in reader.fieldnames or []]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    unknown = [c for c in header if c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    if missing or unknown:
        problems = [f"missing column(s) {', '.join(missing)}"] if missing else []
        problems += [f"unknown column(s) {', '.join(unknown)}"] if unknown else []
        expected = ", ".join(REQUIRED_COLUMNS) + f" (optional: {', '.join(OPTIONAL_COLUMNS)})"
        raise RosterError(f"line 1: {'; '.join(problems)}; the header names {expected}")
    reader.fieldnames = header
    users: list[NewUser] = []
    errors: list[RowError] = []
    seen: dict[str, int] = {}
    for row in reader:
        line = reader.line_num
        if None in row:  # more fields than the header has
            errors.append(RowError(line, (row.get("id") or "").strip(), ["more fields than the header"]))
            continue
        values = {key: (value or "").strip() for key, value in row.items()}
        reasons: list[str] = []
        user = _row_user(values, sources, today or date.today(), reasons)
        user_id = values.get("id", "")
        if user_id in seen:
            reasons.append(f"id {user_id!r} is also on line {seen[user_id]}")
        elif user_id in registered:
            reasons.append(f"user {user_id!r} is already registered (hr users update {user_id} ...)")
        seen.setdefault(user_id, line)
        if reasons or user is None:
            errors.append(RowError(line, user_id, reasons))
        else:
            users.append(user)
    return users, errors


def _row_user(values: dict[str, str], sources: SourceRegistry, today: date, reasons: list[str]) -> NewUser | None:
    """The row's user, or None with ``reasons`` saying what is wrong with it."""

    def check(validate: Any, value: str) -> None:
        try:
            validate(value)
        except UserError as exc:
            reasons.append(str(exc))

    user_id, timezone, source = values["id"], values["timezone"], values["source"]
    check(validate_user_id, user_id)
    check(validate_timezone, timezone)
    cohort = values.get("cohort") or None
    if cohort is not None:
        check(validate_cohort, cohort)
    if source not in sources:
        reasons.append(f"unknown source {source!r}; known: {', '.join(sorted(sources.kinds))}")
    settings: dict[str, Any] = {}
    try:
        parsed = json.loads(values["settings"]) if values["settings"] else {}
        if isinstance(parsed, dict):
            settings = parsed
        else:
            reasons.append("settings: not a JSON object")
    except json.JSONDecodeError as exc:
        reasons.append(f"settings: not JSON ({exc.msg})")
    seed: int | None = None
    if values.get("seed"):
        try:
            seed = int(values["seed"])
        except ValueError:
            reasons.append(f"seed {values['seed']!r} is not an integer")
    if source == "simulated" and seed is None:
        reasons.append("a simulated user needs a seed")
    if source == "fitbit_export":
        folder = settings.get("path")
        if not isinstance(folder, str) or not Path(folder).expanduser().is_dir():
            reasons.append(f"settings: path {folder!r} is not a folder")
    start: date | None = None
    if values["start_date"]:
        try:
            start = date.fromisoformat(values["start_date"])
        except ValueError:
            reasons.append(f"start_date {values['start_date']!r} is not a date (YYYY-MM-DD)")
    if reasons:
        return None
    if start is None:
        available = sources[source].available_dates(UserProfile(user_id, timezone, source, seed, settings))
        start = available.first if available else today - timedelta(days=DEFAULT_HISTORY_DAYS)
    return NewUser(user_id, timezone, start, source, values.get("name") or None, seed, settings, cohort)


def register_roster(conn: psycopg.Connection, users: list[NewUser], sources: SourceRegistry) -> None:
    """Register ``users`` in one transaction: all of them, or none if one fails."""
    with conn.transaction():
        for user in users:
            add_user(conn, user, known_sources=sources.kinds)
