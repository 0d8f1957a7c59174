"""What the dashboard's browser tests and its benchmark share: simulated data loaded the project's
way, the real query API in a uvicorn process, and Debian's Chromium driven by Playwright.

Playwright never downloads a browser here: it drives the distribution's ``chromium`` through
``executable_path``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hr_assets.domain.ingest import changed_windows, ingest
from hr_assets.domain.user_day import UserDay
from hr_assets.settings import PROJECT_ROOT
from hr_assets.sources import SOURCES
from hr_assets.warehouse.aggregates import LEVELS, refresh
from hr_assets.warehouse.db import Warehouse, connect
from hr_assets.warehouse.users import NewUser, add_user, users_by_id

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page, Playwright

WEB_DIST = PROJECT_ROOT / "web" / "dist"
DESKTOP = {"viewport": {"width": 1280, "height": 800}}
PHONE = {"viewport": {"width": 375, "height": 740}, "has_touch": True, "is_mobile": True, "device_scale_factor": 2}
# How long a test waits for the page (a first render on a loaded 2-core machine takes seconds).
WAIT_MS = 20_000
# Flags that let Debian's Chromium run headless as root in a container, with nothing phoning home.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
API_START_SECONDS = 60.0


@dataclass(frozen=True)
class SimulatedUser:
    id: str
    seed: int
    timezone: str
    dense: bool = False  # one reading every second, no gaps (the simulator's benchmark mode)


def load_simulated(db_url: str, users: list[SimulatedUser], days: list[date]) -> int:
    """Register ``users`` and load their ``days`` as the assets do: intraday, summary, then the
    1m, 1h and 1d aggregates. Returns the readings loaded."""
    with connect(db_url) as conn:
        for user in users:
            config = {"dense": True} if user.dense else {}
            add_user(
                conn,
                NewUser(user.id, user.timezone, days[0], seed=user.seed, source_config=config),
                known_sources=SOURCES.kinds,
            )
        conn.commit()
        registry = users_by_id(conn, [user.id for user in users])
    warehouse = Warehouse(db_url)
    partitions = sorted(UserDay(user.id, day) for user in users for day in days)
    rows = 0
    for payload in ("intraday", "summary"):
        report = ingest(warehouse, SOURCES, registry, partitions, payload)
        if report.failures:
            raise RuntimeError(f"{payload} load failed: {report.failures[0].error}")
        rows += report.total("rows_written") if payload == "intraday" else 0
    for level in LEVELS.values():
        refresh(warehouse, level, changed_windows(registry, partitions))
    return rows


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ApiServer:
    """The query API (``uvicorn hr_api.main:app``) on 127.0.0.1, serving web/dist under /app/."""

    def __init__(self, db_url: str, log: Path, *, auth: str = "off", web_dir: Path = WEB_DIST) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        env = {key: value for key, value in os.environ.items() if not key.startswith("HR_")}
        env.update(HR_DATABASE_URL=db_url, HR_API_AUTH=auth, HR_API_WEB_DIR=str(web_dir))
        command = [sys.executable, "-m", "uvicorn", "hr_api.main:app", "--host", "127.0.0.1"]
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [*command, "--port", str(self.port)], env=env, stdout=out, stderr=subprocess.STDOUT, cwd=PROJECT_ROOT
            )
        self._wait_healthy()

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + API_START_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the API exited ({self.process.returncode}):\n{self.log.read_text()[-3000:]}")
            with (
                contextlib.suppress(OSError, urllib.error.URLError),
                urllib.request.urlopen(f"{self.url}/health", timeout=2) as response,
            ):
                if response.status == 200:
                    return
            time.sleep(0.2)
        self.stop()
        tail = self.log.read_text()[-3000:]
        raise RuntimeError(f"the API did not become healthy in {API_START_SECONDS:.0f} s:\n{tail}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextlib.contextmanager
def api_server(db_url: str, log: Path) -> Iterator[ApiServer]:
    server = ApiServer(db_url, log)
    try:
        yield server
    finally:
        server.stop()


def chromium_path() -> str | None:
    return shutil.which("chromium")


def missing_for_browser() -> str | None:
    """Why the browser tests cannot run here, or None if they can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (make install)"
    if chromium_path() is None:
        return "chromium not found (make test installs it as root on Debian/Ubuntu; else apt-get install chromium)"
    if not (WEB_DIST / "index.html").is_file():
        return "the dashboard is not built (web/dist; make web needs Node.js 20.19+ or 22.12+)"
    return None


def launch(playwright: Playwright, profile: Path, **context: Any) -> BrowserContext:
    """Chromium with a fresh profile in ``profile``; ``context``: viewport, has_touch, is_mobile..."""
    return playwright.chromium.launch_persistent_context(
        str(profile), executable_path=chromium_path(), args=list(CHROMIUM_FLAGS), headless=True, **context
    )


class PageOpener:
    """``opener(url, **context)``: a page in a fresh Chromium profile (url None: not navigated yet).
    ``close(screenshots, name)`` saves each page's full-page screenshot there, then closes the browsers."""

    def __init__(self, playwright: Playwright, profiles: Path) -> None:
        self.playwright = playwright
        self.profiles = profiles
        self.contexts: list[BrowserContext] = []
        self.pages: list[Page] = []

    def __call__(self, url: str | None, **context: Any) -> Page:
        browser = launch(self.playwright, self.profiles / f"profile{len(self.contexts)}", **{**DESKTOP, **context})
        self.contexts.append(browser)
        page = browser.new_page()
        page.set_default_timeout(WAIT_MS)
        self.pages.append(page)
        if url is not None:
            page.goto(url)
        return page

    def close(self, screenshots: Path, name: str) -> None:
        screenshots.mkdir(parents=True, exist_ok=True)
        for i, page in enumerate(self.pages):
            suffix = f"-{i}" if i else ""
            page.screenshot(path=screenshots / f"{name}{suffix}.png", full_page=True)
        for browser in self.contexts:
            browser.close()
