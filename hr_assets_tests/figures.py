"""Figures the tests gather as they run (requests sent, records compared, ...), printed by section at the
end of the run (the root conftest's pytest_terminal_summary); the README quotes them. Under pytest-xdist
each worker hands its figures to the controller, which adds them up before printing."""

from __future__ import annotations

from collections import Counter, defaultdict

# Section title -> figure name -> count.
SECTIONS: defaultdict[str, Counter[str]] = defaultdict(Counter)


def section(title: str) -> Counter[str]:
    """The figures printed under ``title``: add to them with ``figures[name] += n``."""
    return SECTIONS[title]


def merge(sections: dict[str, dict[str, int]]) -> None:
    """Add another process's figures (an xdist worker's) to this one's."""
    for title, figures in sections.items():
        SECTIONS[title].update(figures)
