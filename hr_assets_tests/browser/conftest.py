"""The browser layer: Debian's Chromium, driven by Playwright, against the real query API serving the
built dashboard (web/dist). Every test here carries the ``browser`` marker, so ``-m "not browser"``
leaves the layer out; the tests skip, saying what is missing, where Chromium or the build is absent
(``make web-test`` provides both)."""

from __future__ import annotations

from collections.abc import Iterator
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


# --- the browser tests' fixtures (test_dashboard.py, test_study_page.py) --------------------------


@pytest.fixture(scope="module")
def browser_ready() -> None:
    """Skip the module, saying what is missing, where Chromium, playwright or the built dashboard are not there."""
    from hr_assets_tests.browser.chromium import missing_for_browser

    missing = missing_for_browser()
    if missing:
        pytest.skip(f"browser tests skipped: {missing}")


@pytest.fixture(scope="module")
def playwright(browser_ready: None) -> Iterator[object]:
    """A Playwright driver for the module (Debian's Chromium is launched per test by chromium.launch)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        yield driver
