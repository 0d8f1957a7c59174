"""Partitions (one user's local calendar day) and the day arithmetic that picks them.

:class:`UserDay` itself is defined in :mod:`hr_assets.warehouse.user_day` (the warehouse returns it);
it is re-exported here, where the rest of the project has always found it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hr_assets.warehouse.user_day import KEY_SEPARATOR, PartitionKeyError, UserDay, parse_keys

__all__ = ["KEY_SEPARATOR", "PartitionKeyError", "UserDay", "complete_days", "latest_complete_day", "parse_keys"]


def latest_complete_day(timezone: str, now: datetime) -> date:
    """The most recent local day that has ended in ``timezone`` at ``now``."""
    return now.astimezone(ZoneInfo(timezone)).date() - timedelta(days=1)


def complete_days(timezone: str, count: int, now: datetime | None = None) -> list[date]:
    """The last ``count`` local days that have ended in ``timezone`` at ``now`` (default: now), oldest first."""
    yesterday = latest_complete_day(timezone, now or datetime.now(UTC))
    return [yesterday - timedelta(days=n) for n in range(count - 1, -1, -1)]
