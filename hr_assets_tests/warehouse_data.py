"""A warehouse with simulated users' days loaded as the pipeline loads them (no Dagster): for read-side tests."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date

from hr_assets.domain.ingest import changed_windows, ingest
from hr_assets.domain.user_day import UserDay
from hr_assets.sources import SOURCES
from hr_assets.warehouse.aggregates import LEVELS, refresh
from hr_assets.warehouse.db import Warehouse
from hr_assets.warehouse.migrations import migrate
from hr_assets.warehouse.users import NewUser, add_user, users_by_id


def load_simulated(url: str, users: Sequence[NewUser], days: Iterable[date]) -> None:
    """Register ``users`` and load their intraday and summary payloads for ``days``, aggregates refreshed."""
    migrate(url)
    warehouse = Warehouse(url)
    with warehouse.connection() as conn:
        for user in users:
            add_user(conn, user, known_sources=SOURCES.kinds)
        conn.commit()
        registered = users_by_id(conn, [u.id for u in users])
    partitions = [UserDay(user.id, day) for user in users for day in sorted(days)]
    for payload in ("intraday", "summary"):
        report = ingest(warehouse, SOURCES, registered, partitions, payload)
        assert not report.failures, report.failures
    for name in ("1m", "1h", "1d"):
        refresh(warehouse, LEVELS[name], changed_windows(registered, partitions))
