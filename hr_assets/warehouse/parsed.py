"""A parsed day, as the parser (:mod:`hr_assets.domain.transform`) hands it to the loader (:mod:`.loads`).

Defined here, at the bottom layer, because the warehouse writes them; the parser builds them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import polars as pl


@dataclass(frozen=True)
class ParsedIntraday:
    """One local day's intraday readings, parsed and placed in UTC, and the records refused."""

    readings: pl.DataFrame  # hr_assets.domain.transform.INTRADAY_SCHEMA, sorted by time, unique times
    quarantined: pl.DataFrame  # hr_assets.domain.transform.QUARANTINE_SCHEMA
    window_start: datetime  # the local day as a UTC interval [start, end)
    window_end: datetime

    @property
    def day_seconds(self) -> int:
        return int((self.window_end - self.window_start).total_seconds())


@dataclass(frozen=True)
class ParsedSummary:
    """One local day's summary, parsed, and the records refused."""

    user_id: str
    day: date
    resting_heart_rate: int | None
    heart_rate_zones: list[dict[str, Any]]
    custom_heart_rate_zones: list[dict[str, Any]]
    quarantined: pl.DataFrame  # hr_assets.domain.transform.QUARANTINE_SCHEMA
