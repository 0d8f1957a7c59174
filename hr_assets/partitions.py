"""Partitions: one per user and local calendar day."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg

# Fitbit's first wrist heart-rate trackers shipped in 2015; no export has data before it.
PARTITIONS_START_DATE = "2015-01-01"
USERS_PARTITION_NAME = "users"

users_partitions = dg.DynamicPartitionsDefinition(name=USERS_PARTITION_NAME)
# end_offset=1: the current UTC day is a partition too, because users east of UTC finish
# their local day before UTC does. Which day each user gets is the schedule's decision.
daily_partitions = dg.DailyPartitionsDefinition(start_date=PARTITIONS_START_DATE, end_offset=1)
user_day_partitions = dg.MultiPartitionsDefinition({"date": daily_partitions, "user": users_partitions})


def partition_key(user_id: str, day: date) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({"date": day.isoformat(), "user": user_id})


def user_days(partition_keys: list[str]) -> list[tuple[str, date]]:
    """(user, day) for each partition key (``YYYY-MM-DD|user``), sorted by user then day."""
    pairs = []
    for key in partition_keys:
        day, _, user_id = key.partition("|")
        pairs.append((user_id, date.fromisoformat(day)))
    return sorted(pairs)


def complete_days(timezone: str, count: int, now: datetime | None = None) -> list[date]:
    """The last ``count`` local days that have ended in ``timezone`` at ``now`` (default: now), oldest first."""
    local_now = (now or datetime.now(UTC)).astimezone(ZoneInfo(timezone))
    yesterday = local_now.date() - timedelta(days=1)
    return [yesterday - timedelta(days=n) for n in range(count - 1, -1, -1)]


def partition_changes(active: set[str], present: set[str]) -> tuple[list[str], list[str]]:
    """(to add, to remove) to make the ``users`` partitions ``present`` equal the ``active`` users."""
    return sorted(active - present), sorted(present - active)
