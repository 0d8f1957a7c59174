"""The audit log of the query API (``api_audit_log``): who read which participant's data, when, and the answer.

The API writes a row per request for participant data before the answer leaves (hr_api/audit.py); the
operator reads them with ``hr audit`` and forgets old ones with ``hr audit --prune`` (HR_AUDIT_RETENTION_DAYS).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg
import psycopg_pool
from psycopg.rows import class_row

from hr_assets.warehouse.db import query, readable_url, translated_errors


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


def _params(entry: AuditEntry) -> dict[str, object]:
    return {
        "key_id": entry.key_id,
        "route": entry.route,
        "participants": entry.participants,
        "range_start": entry.range_start,
        "range_end": entry.range_end,
        "status": entry.status,
    }


def record(conn: psycopg.Connection, entry: AuditEntry) -> None:
    """Write ``entry`` on ``conn`` (a writable session; the API writes through :class:`AuditWriter`)."""
    conn.execute(query("audit_insert"), _params(entry))


# The writer's sessions: UTC; writable although the API's role may be read-only by default (hr_reader of
# docker/initdb: it may insert into the audit table and nothing else); commits that do not wait for the WAL to
# reach the disk (measured: that wait was most of the audit's cost; docs/study.md says what a crash may lose).
_WRITER_OPTIONS = "-c timezone=UTC -c default_transaction_read_only=off -c synchronous_commit=off"


class AuditWriter:
    """Writes the API's audit rows from its event loop: a small pool of asynchronous connections of its own, one
    INSERT per row, no worker thread in between."""

    def __init__(self, url: str, *, max_size: int, wait_seconds: float) -> None:
        self._pool = psycopg_pool.AsyncConnectionPool(
            readable_url(url),
            min_size=1,
            max_size=max_size,
            open=False,
            name="hr-api-audit",
            timeout=wait_seconds,
            reconnect_timeout=wait_seconds,
            kwargs={"autocommit": True, "options": _WRITER_OPTIONS, "application_name": "hr-api-audit"},
        )

    async def open(self) -> None:
        await self._pool.open(wait=False)

    async def close(self) -> None:
        await self._pool.close()

    async def record(self, entry: AuditEntry) -> None:
        """Write ``entry``; :class:`WarehouseError` (or its subclasses) when it cannot be written."""
        with translated_errors():
            async with self._pool.connection() as conn:
                await conn.execute(query("audit_insert"), _params(entry))


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
