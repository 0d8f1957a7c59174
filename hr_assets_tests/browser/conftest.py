"""The browser layer: Debian's Chromium, driven by Playwright, against the real query API serving the
built dashboard (web/dist). Every test here carries the ``browser`` marker, so ``-m "not browser"``
leaves the layer out; the tests skip, saying what is missing, where Chromium or the build is absent
(``make web-test`` provides both)."""

from __future__ import annotations

from pathlib import Path

import pytest

BROWSER_DIR = Path(__file__).parent
# The xdist group the whole layer runs in (see pytest_collection_modifyitems).
BROWSER_GROUP = "browser"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The ``browser`` marker on every test of the layer; under pytest-xdist (--dist loadgroup) the layer
    on one worker, so its API server, database and Chromium start once, not once per worker."""
    for item in items:
        if item.path.is_relative_to(BROWSER_DIR):
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.xdist_group(BROWSER_GROUP))
