"""Storage figures and retention of raw readings (the maintenance asset's work)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from psycopg.rows import class_row

from hr_assets.warehouse.db import Mode, Warehouse, query

# Retention must leave every day that can still be re-fetched (the nightly schedule goes back
# two days, devices sync up to a week late) and its neighbour in UTC: refreshing the
# aggregates over a window without raw readings would empty them.
MIN_RETENTION_DAYS = 14


class RetentionError(ValueError):
    pass


@dataclass(frozen=True)
class RelationStorage:
    relation: str
    hypertable: str
    total_bytes: int
    chunks: int
    columnstore_chunks: int
    before_compression_bytes: int
    after_compression_bytes: int
    compression_ratio: Decimal | None


def storage(warehouse: Warehouse) -> list[RelationStorage]:
    """Size on disk of the raw readings and each aggregate (and compression, in TimescaleDB mode)."""
    name = "timescale_storage" if warehouse.mode is Mode.TIMESCALEDB else "postgres_storage"
    with warehouse.connection() as conn, conn.cursor(row_factory=class_row(RelationStorage)) as cur:
        return cur.execute(query(name)).fetchall()


def retention_horizon(retention_days: int | None, now: datetime | None = None) -> datetime | None:
    """The instant before which raw readings are dropped, or None without retention."""
    if retention_days is None:
        return None
    if retention_days < MIN_RETENTION_DAYS:
        raise RetentionError(
            f"HR_RETENTION_DAYS={retention_days} is shorter than the re-fetch window allows "
            f"(at least {MIN_RETENTION_DAYS} days)"
        )
    return (now or datetime.now(UTC)) - timedelta(days=retention_days)


def apply_retention(warehouse: Warehouse, retention_days: int) -> int:
    """Drop raw readings older than ``retention_days``; return chunks (TimescaleDB) or rows dropped."""
    retention_horizon(retention_days)  # validates
    older_than = timedelta(days=retention_days)
    with warehouse.connection(autocommit=True) as conn:
        if warehouse.mode is Mode.TIMESCALEDB:
            row = conn.execute(query("timescale_retention"), {"older_than": older_than}).fetchone()
            return int(row[0]) if row else 0
        return conn.execute(query("postgres_retention"), {"older_than": older_than}).rowcount
