"""The contract every heart-rate source fulfils.

A source gives, for one user and one *local* calendar date, the two payloads of the
Fitbit Web API that the loader understands:

* intraday: ``{"activities-heart-intraday": {"dataset": [{"time": "HH:MM:SS", "value": 64}, ...],
  "datasetInterval": 1, "datasetType": "second"}}`` with local wall-clock times, in the
  order the readings were taken (that order resolves the repeated hour of a DST fall-back);
* summary: ``{"activities-heart": [{"dateTime": "YYYY-MM-DD", "value": {"customHeartRateZones": [],
  "heartRateZones": [...], "restingHeartRate": 61}}]}``.

Payloads are JSON text (``bytes``), exactly as an HTTP response or an export file would
carry them, so that the loader's parser is the single place that decides what is valid.
The loader asks for one payload at a time (``only``), as the Web API serves them from two
endpoints; a source may then skip the other, which a summary-only fetch makes much cheaper.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal, Protocol

# Defined with the users table it is a row of; re-exported as the sources' contract.
from hr_assets.warehouse.users import UserProfile as UserProfile

PayloadKind = Literal["intraday", "summary"]


class SourceError(RuntimeError):
    """A source could not produce a day's payloads (unreadable file, bad settings, ...)."""


class TransientSourceError(SourceError):
    """A source failed in a way that retrying later may fix (rate limited, the service down).

    The loader lets it through to the run's retry policy instead of failing the partition for good.
    """


@dataclass(frozen=True)
class DayPayloads:
    """A user's local day, as the Fitbit Web API would return it (JSON text)."""

    intraday: bytes
    summary: bytes
    # Where the payloads came from (file names, generator version): shown in quarantine rows
    # and asset metadata so that a bad record can be traced back.
    origin: str = ""
    # Where each record of the intraday dataset stands in its source ("heart_rate-2026-11-21.json[600]",
    # "heart_rate_2026-11-21.csv:302"), in dataset order; empty where the source has no files.
    intraday_refs: tuple[str, ...] = ()


@dataclass(frozen=True)
class DateRange:
    """First and last local dates (inclusive) for which a source has data."""

    first: date
    last: date


class Source(Protocol):
    """One kind of source (``users.source``). Register implementations in ``sources/__init__.py``."""

    kind: str

    def fetch_day(self, user: UserProfile, day: date, *, only: PayloadKind | None = None) -> DayPayloads:
        """The payloads for ``day`` in ``user.timezone``. A day without data gives empty payloads, not an error.

        With ``only``, the other payload may be left empty (``b""``); the named one must be whole.
        """
        ...

    def available_dates(self, user: UserProfile) -> DateRange | None:
        """The dates with data, if the source knows them (an export does; a live API does not)."""
        ...
