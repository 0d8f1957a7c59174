"""Heart-rate sources by kind (``users.source``). To add a kind, write its module and register it here.

The loaders are handed a :class:`SourceRegistry` (a Dagster resource in runs); tests and the
benchmarks hand them one with sources of their own instead of changing this module.
"""

from __future__ import annotations

from collections.abc import Iterable

from hr_assets.sources.base import DateRange, DayPayloads, PayloadKind, Source, SourceError, UserProfile
from hr_assets.sources.fitbit_export import FitbitExportSource
from hr_assets.sources.simulator import SimulatorSource


class SourceRegistry:
    """The source of each kind."""

    def __init__(self, sources: Iterable[Source]) -> None:
        self._by_kind = {source.kind: source for source in sources}

    def __getitem__(self, kind: str) -> Source:
        try:
            return self._by_kind[kind]
        except KeyError:
            raise SourceError(f"unknown source kind {kind!r}; known: {', '.join(sorted(self._by_kind))}") from None

    def __contains__(self, kind: object) -> bool:
        return kind in self._by_kind

    @property
    def kinds(self) -> set[str]:
        return set(self._by_kind)

    def with_sources(self, *sources: Source) -> SourceRegistry:
        """This registry with ``sources`` added (replacing those of the same kinds)."""
        return SourceRegistry([*self._by_kind.values(), *sources])


SOURCES = SourceRegistry([SimulatorSource(), FitbitExportSource()])


__all__ = [
    "SOURCES",
    "DateRange",
    "DayPayloads",
    "PayloadKind",
    "Source",
    "SourceError",
    "SourceRegistry",
    "UserProfile",
]
