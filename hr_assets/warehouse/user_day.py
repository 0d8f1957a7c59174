"""A partition of the heart-rate assets: one user's local calendar day.

Every schedule, sensor, check, command, load and refresh speaks of partitions through this type:
its ``key`` is the Dagster partition key (``YYYY-MM-DD|user``, the multi-partition key of the
``date`` and ``user`` dimensions), :meth:`UserDay.parse` reads one back, and :meth:`window` is the
day's span in UTC (23, 24 or 25 hours). It lives in the warehouse, the bottom layer, because the
warehouse's status queries return it; :mod:`hr_assets.domain.user_day` re-exports it with the day arithmetic.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

KEY_SEPARATOR = "|"


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name``; ValueError saying which name when there is no such zone."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown IANA time zone {name!r}") from exc


def local_day_window(day: date, timezone: str) -> tuple[datetime, datetime]:
    """The local calendar day as a UTC interval: 23, 24 or 25 hours long."""
    tz = zone(timezone)
    start = datetime.combine(day, time(), tz).astimezone(ZoneInfo("UTC"))
    end = datetime.combine(day + timedelta(days=1), time(), tz).astimezone(ZoneInfo("UTC"))
    return start, end


class PartitionKeyError(ValueError):
    """A string that is not a ``YYYY-MM-DD|user`` partition key."""


@dataclass(frozen=True, order=True)
class UserDay:
    """``user_id``'s local calendar date ``day``. Sorts by user, then day."""

    user_id: str
    day: date

    @property
    def key(self) -> str:
        return f"{self.day.isoformat()}{KEY_SEPARATOR}{self.user_id}"

    @classmethod
    def parse(cls, key: str) -> UserDay:
        day, separator, user_id = key.partition(KEY_SEPARATOR)
        try:
            parsed = date.fromisoformat(day)
        except ValueError:
            parsed = None
        if not separator or not user_id or parsed is None:
            raise PartitionKeyError(f"{key!r} is not a partition key (YYYY-MM-DD|user)")
        return cls(user_id, parsed)

    def window(self, timezone: str) -> tuple[datetime, datetime]:
        """[start, end) of the day in UTC: local midnight to the next local midnight in ``timezone``."""
        return local_day_window(self.day, timezone)

    def __str__(self) -> str:
        return self.key


def parse_keys(keys: Iterable[str]) -> list[UserDay]:
    """The partitions named by ``keys``, sorted by user then day."""
    return sorted(UserDay.parse(key) for key in keys)
