"""Heart-rate sources by kind (``users.source``). To add a kind, write its module and register it here."""

from __future__ import annotations

from hr_assets.sources.base import (
    DateRange,
    DayPayloads,
    PayloadKind,
    Source,
    SourceError,
    TransientSourceError,
    UserProfile,
)
from hr_assets.sources.fitbit_export import FitbitExportSource
from hr_assets.sources.google_health import GoogleHealthSource
from hr_assets.sources.simulator import SimulatorSource

SOURCES: dict[str, Source] = {
    source.kind: source for source in (SimulatorSource(), FitbitExportSource(), GoogleHealthSource())
}


def source_for(kind: str) -> Source:
    try:
        return SOURCES[kind]
    except KeyError:
        raise SourceError(f"unknown source kind {kind!r}; known: {', '.join(sorted(SOURCES))}") from None


__all__ = [
    "SOURCES",
    "DateRange",
    "DayPayloads",
    "PayloadKind",
    "Source",
    "SourceError",
    "TransientSourceError",
    "UserProfile",
    "source_for",
]
