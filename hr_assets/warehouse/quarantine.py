"""What went to quarantine: the records a load refused, with their reasons, for the operator to read."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from psycopg.rows import class_row

from hr_assets.warehouse.db import Connection, query


@dataclass(frozen=True)
class QuarantinedRecord:
    user_id: str
    date: date
    payload: str
    source: str
    reason: str
    record: str
    quarantined_at: datetime


def quarantined_since(conn: Connection, user_ids: list[str], first: date, last: date, since: datetime) -> int:
    """Records quarantined by the loads of ``user_ids``' days ``first``..``last`` done at or after ``since``."""
    params = {"user_ids": user_ids, "first": first, "last": last, "since": since}
    row = conn.execute(query("quarantine_count_loaded_since"), params).fetchone()
    return int(row[0]) if row else 0


def list_quarantined(
    conn: Connection, *, user_id: str | None = None, since: datetime | None = None, limit: int = 50
) -> list[QuarantinedRecord]:
    """The newest quarantined records (of ``user_id``, since ``since``), at most ``limit``."""
    with conn.cursor(row_factory=class_row(QuarantinedRecord)) as cur:
        return cur.execute(query("quarantine_list"), {"user_id": user_id, "since": since, "limit": limit}).fetchall()
