"""The audit log of the query API (``api_audit_log``): who read which participant's data, when, and the answer.

The API writes a row per request for participant data before the answer leaves (hr_api/audit.py); the
operator reads them with ``hr audit`` and forgets old ones with ``hr audit --prune`` (HR_AUDIT_RETENTION_DAYS).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg.rows import class_row

from hr_assets.warehouse.db import query


@dataclass(frozen=True)
class AuditEntry:
    key_id: int | None  # None: the API runs without keys (HR_API_AUTH=off, loopback only)
    route: str  # the route's path template, e.g. /timeseries or /users/{user_id}
    participants: list[str]
    range_start: str | None
    range_end: str | None
    status: int


@dataclass(frozen=True)
class AuditRow:
    id: int
    at: datetime
    key_id: int | None
    route: str
    participants: list[str]
    range_start: str | None
    range_end: str | None
    status: int


def record(conn: psycopg.Connection, entry: AuditEntry) -> None:
    """Write ``entry`` and commit it, in one round trip.

    The API's sessions are read-only by default (its pool, and the hr_reader role of docker/initdb); this one
    transaction asks to write, and the role may insert into the audit table only.
    """
    params = {
        "key_id": entry.key_id,
        "route": entry.route,
        "participants": entry.participants,
        "range_start": entry.range_start,
        "range_end": entry.range_end,
        "status": entry.status,
    }
    with conn.pipeline(), conn.transaction():
        conn.execute(query("audit_read_write"))
        conn.execute(query("audit_insert"), params)


def audit_rows(
    conn: psycopg.Connection,
    *,
    user_id: str | None = None,
    key_id: int | None = None,
    since: datetime | None = None,
    limit: int = 1000,
) -> list[AuditRow]:
    """The newest ``limit`` rows, optionally of one participant, one key, and from ``since`` on."""
    params = {"user_id": user_id, "key_id": key_id, "since": since, "limit": limit}
    with conn.cursor(row_factory=class_row(AuditRow)) as cur:
        return cur.execute(query("audit_list"), params).fetchall()


def prune(conn: psycopg.Connection, retention_days: int) -> int:
    """Delete rows older than ``retention_days``; how many."""
    return conn.execute(query("audit_prune"), {"days": retention_days}).rowcount
