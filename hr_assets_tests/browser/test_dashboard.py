"""The dashboard in a real Chromium against the real query API, on data loaded the project's way.

Each test saves a full-page screenshot under .hr/test-output/dashboard/ (named after the test),
to look at what a person would see. Skipped, saying what is missing, where Chromium, the
playwright package or the built dashboard (web/dist) are not there; ``make test`` provides them.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import psycopg
import pytest

from hr_assets.local import localdb
from hr_assets.settings import PROJECT_ROOT
from hr_assets.warehouse.api_keys import create_key
from hr_assets.warehouse.db import connection
from hr_assets_tests.browser.chromium import (
    PHONE,
    ApiServer,
    PageOpener,
    SimulatedUser,
    api_server,
    load_simulated,
    missing_for_browser,
)
from hr_assets_tests.conftest import TEMPLATE, create_database, drop_database

if missing_for_browser() is None:
    from playwright.sync_api import Page, Playwright

pytestmark = pytest.mark.browser

SCREENSHOTS = PROJECT_ROOT / ".hr" / "test-output" / "dashboard"
WEB = PROJECT_ROOT / "web"
# The project's default users (hr_assets.cli): seeds and zones. user1's watch records every second
# (so an hour is 3,600 readings, more than a 1280 px chart asks for), user2's every 1-15 s with
# off-wrist gaps, as the simulator does by default.
USERS = [
    SimulatedUser("user1", 23, "Europe/Berlin", dense=True),
    SimulatedUser("user2", 37, "America/New_York"),
]
DAYS = [date(2025, 6, 1) + timedelta(days=n) for n in range(7)]


@pytest.fixture(scope="module")
def dashboard_db(browser_ready: None, pg_server: localdb.LocalServer, template_url: str) -> Iterator[str]:
    """One database for the module: the two default users' first week of June 2025."""
    name = "hr_dashboard_e2e"
    url = create_database(pg_server, name, template=TEMPLATE)
    load_simulated(url, USERS, DAYS)
    yield url
    drop_database(pg_server, name)


@pytest.fixture(scope="module")
def api(dashboard_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    with api_server(dashboard_db, tmp_path_factory.mktemp("api") / "api.log") as server:
        yield server


OpenPage = Callable[..., "Page"]


@pytest.fixture
def open_page(playwright: Playwright, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[OpenPage]:
    """open_page(url, **context) -> a page in a fresh Chromium profile (url None: not navigated yet);
    its screenshot is saved at the end of the test."""
    opener = PageOpener(playwright, tmp_path)
    yield opener
    opener.close(SCREENSHOTS, request.node.name)


# --- helpers ----------------------------------------------------------------------------------


def drawn_key(page: Page) -> str:
    """The key of the data the detail chart drew last ('' before the first)."""
    return str(page.evaluate("() => document.querySelector('.chart .uplot')?.dataset.drawnKey ?? ''"))


def wait_drawn(page: Page, after: str = "") -> str:
    """Wait until the chart shows current data other than ``after``; its key."""
    page.wait_for_function(
        """after => {
            const chart = document.querySelector('.chart');
            const key = document.querySelector('.chart .uplot')?.dataset.drawnKey;
            return chart && ['ready', 'empty'].includes(chart.dataset.state) && key && key !== after;
        }""",
        arg=after,
    )
    return drawn_key(page)


def resolution(page: Page) -> str:
    return str(page.locator("output.status").get_attribute("data-resolution"))


def status_points(page: Page) -> int:
    text = page.locator("output.status").inner_text()
    match = re.search(r"([\d,]+) points", text)
    assert match, text
    return int(match.group(1).replace(",", ""))


def watch(page: Page) -> list[dict[str, str]]:
    """Record every detail-chart timeseries request and its response's query_info."""
    seen: list[dict[str, str]] = []

    def on_response(response: Any) -> None:
        url = urlsplit(response.url)
        if url.path == "/multi-user/timeseries" and response.ok:
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            info = response.json()["metadata"]["query_info"]
            seen.append({**query, "resolution": info["interval"], "points": str(info["point_count"])})

    page.on("response", on_response)
    return seen


def count_requests(page: Page) -> list[str]:
    """Record every API request the page sends (path and query, in order); aborted ones included."""
    sent: list[str] = []

    def on_request(request: Any) -> None:
        url = urlsplit(request.url)
        if not url.path.startswith("/app"):
            sent.append(f"{url.path}?{url.query}" if url.query else url.path)

    page.on("request", on_request)
    return sent


def repeated(sent: list[str]) -> list[str]:
    """The requests sent more than once."""
    return sorted({request for request in sent if sent.count(request) > 1})


def legend_users(page: Page) -> list[str]:
    return page.locator("ul[aria-label='Users on the chart'] > li").all_inner_texts()


def url_params(page: Page) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(page.url).query).items()}


def instant(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def no_horizontal_scroll(page: Page) -> bool:
    return bool(page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth"))


def newest_reading(db_url: str, user_id: str) -> datetime:
    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT max(time) FROM activities_heart_intraday WHERE user_id = %s", (user_id,)).fetchone()
    assert row and row[0]
    return row[0].astimezone(UTC)  # type: ignore[no-any-return]


def plot_box(page: Page) -> dict[str, float]:
    """Where the plot area is on screen, scrolled into view (on a phone the chart is below the controls)."""
    plot = page.locator(".chart .u-over")
    plot.scroll_into_view_if_needed()
    box = plot.bounding_box()
    assert box
    return box


# --- tests ------------------------------------------------------------------------------------


def test_page_loads_with_the_first_user_and_the_last_7_days(
    api: ApiServer, dashboard_db: str, open_page: OpenPage
) -> None:
    page = open_page(None)
    seen = watch(page)
    page.goto(f"{api.url}/app/")
    wait_drawn(page)

    assert page.get_by_role("button", name="Last 7 days").get_attribute("aria-pressed") == "true"
    assert legend_users(page) == ["user1"]
    assert page.locator(".chip").count() == 1 and page.locator(".chip").inner_text().startswith("user1")
    # The week ends at the minute after user1's newest reading.
    newest = newest_reading(dashboard_db, "user1")
    query = seen[-1] if seen else {}
    assert query.get("user_ids") == "user1"
    end = instant(query["end_date"])
    assert end - instant(query["start_date"]) == timedelta(days=7)
    assert timedelta(0) < end - newest <= timedelta(minutes=1)
    assert resolution(page) == query["resolution"] == "1h"
    assert status_points(page) == int(query["points"]) > 100
    assert "Europe/Berlin" in page.locator(".chart-head").inner_text()
    assert page.locator(".overview canvas").count() == 1
    assert no_horizontal_scroll(page)


def test_adding_a_second_user_adds_a_series(api: ApiServer, open_page: OpenPage) -> None:
    page = open_page(None)
    seen = watch(page)
    page.goto(f"{api.url}/app/")
    first = wait_drawn(page)
    page.get_by_label("Add a user").select_option("user2")
    wait_drawn(page, after=first)

    assert legend_users(page) == ["user1", "user2"]
    assert url_params(page)["users"] == "user1,user2"
    assert seen[-1]["user_ids"] == "user1,user2"
    swatches = page.locator("ul[aria-label='Users on the chart'] .swatch")
    colours = {swatches.nth(i).evaluate("e => getComputedStyle(e).backgroundColor") for i in range(2)}
    assert len(colours) == 2
    # One more line: the chart has x plus average, min and max per user.
    assert page.evaluate("() => document.querySelectorAll('.chart .uplot').length") == 1


def test_the_one_hour_preset_switches_to_one_minute_points(api: ApiServer, open_page: OpenPage) -> None:
    page = open_page(f"{api.url}/app/")
    first = wait_drawn(page)
    assert resolution(page) == "1h"
    page.get_by_role("button", name="Last hour").click()
    wait_drawn(page, after=first)

    assert resolution(page) == "1m"
    assert 50 <= status_points(page) <= 61
    assert "1 minute" in page.locator("output.status").inner_text()
    assert url_params(page)["range"] == "1h"


def test_drag_zoom_into_one_minute_shows_raw_readings(api: ApiServer, open_page: OpenPage) -> None:
    page = open_page(None)
    seen = watch(page)
    page.goto(f"{api.url}/app/?range=1h")
    first = wait_drawn(page)
    assert resolution(page) == "1m"
    box = plot_box(page)
    # One sixtieth of an hour's width is one minute; start in the middle of the hour.
    x0 = box["x"] + box["width"] / 2
    y = box["y"] + box["height"] / 2
    page.mouse.move(x0, y)
    page.mouse.down()
    page.mouse.move(x0 + box["width"] / 120, y, steps=3)
    page.mouse.move(x0 + box["width"] / 60, y, steps=3)
    page.mouse.up()
    wait_drawn(page, after=first)

    params = url_params(page)
    span = instant(params["to"]) - instant(params["from"])
    assert timedelta(seconds=50) <= span <= timedelta(seconds=70)
    assert resolution(page) == "1s"
    assert "raw readings" in page.locator("output.status").inner_text()
    assert seen[-1]["resolution"] == "1s" and int(seen[-1]["points"]) == status_points(page) > 0
    # The legend shows the reading under the cursor, with its time to the second in the user's zone.
    page.mouse.move(box["x"] + box["width"] / 2, y)
    legend = page.locator(".legend-row")
    assert re.fullmatch(r"user1\s+\d+ bpm", legend.locator("li").inner_text())
    assert re.search(r"\d\d:\d\d:\d\d$", legend.locator(".legend-time").inner_text())
    # Pan: half a window later, same width.
    page.get_by_role("button", name="Pan later").click()
    page.wait_for_function(f"() => new URLSearchParams(location.search).get('from') !== {params['from']!r}")
    panned = url_params(page)
    assert instant(panned["from"]) - instant(params["from"]) == span / 2
    assert instant(panned["to"]) - instant(panned["from"]) == span
    params = panned
    # Back out one step: twice as wide, asked again.
    page.get_by_role("button", name="Zoom out").click()
    page.wait_for_function("() => new URLSearchParams(location.search).get('from') !== null")
    wider = url_params(page)
    assert instant(wider["to"]) - instant(wider["from"]) == span * 2


def test_dragging_over_the_overview_zooms_and_marks_the_window(api: ApiServer, open_page: OpenPage) -> None:
    page = open_page(f"{api.url}/app/?range=24h")
    first = wait_drawn(page)
    strip = page.locator(".overview .u-over")
    box = strip.bounding_box()
    assert box
    y = box["y"] + box["height"] / 2
    # A quarter of the day, from 06:00 to 12:00 of the range.
    page.mouse.move(box["x"] + box["width"] / 4, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 3 / 8, y, steps=3)
    page.mouse.move(box["x"] + box["width"] / 2, y, steps=3)
    page.mouse.up()
    wait_drawn(page, after=first)
    params = url_params(page)
    span = instant(params["to"]) - instant(params["from"])
    assert timedelta(hours=5, minutes=50) <= span <= timedelta(hours=6, minutes=10)
    assert resolution(page) == "1m"
    assert page.get_by_role("heading", name=re.compile(r"^6 h")).is_visible()


def test_touch_pinch_zooms_on_a_phone(api: ApiServer, open_page: OpenPage) -> None:
    page = open_page(f"{api.url}/app/?range=24h", **PHONE)
    first = wait_drawn(page)
    assert no_horizontal_scroll(page)
    assert resolution(page) == "1h"
    box = plot_box(page)
    centre_x = box["x"] + box["width"] / 2
    y = box["y"] + box["height"] / 2
    cdp = page.context.new_cdp_session(page)

    def touch(kind: str, half: float | None) -> None:
        fingers = ((1, -1), (2, 1))
        points = [] if half is None else [{"x": centre_x + side * half, "y": y, "id": i} for i, side in fingers]
        cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})

    # Two fingers 40 px apart spread to 160 px: a quarter of the window stays on screen.
    touch("touchStart", 20)
    for half in range(30, 90, 10):
        touch("touchMove", half)
    touch("touchEnd", None)
    wait_drawn(page, after=first)

    params = url_params(page)
    span = instant(params["to"]) - instant(params["from"])
    assert timedelta(hours=5) <= span <= timedelta(hours=7), span
    assert resolution(page) == "1m"
    assert no_horizontal_scroll(page)


def test_the_url_reproduces_the_view_after_reload(api: ApiServer, open_page: OpenPage) -> None:
    page = open_page(f"{api.url}/app/")
    key = wait_drawn(page)
    page.get_by_label("Add a user").select_option("user2")
    key = wait_drawn(page, after=key)
    page.get_by_role("button", name="Last 24 hours").click()
    key = wait_drawn(page, after=key)
    page.locator(".chart").focus()
    page.keyboard.press("+")  # zoom into the middle half
    key = wait_drawn(page, after=key)
    page.get_by_label("Time zone").select_option("UTC")
    page.get_by_label("Heart-rate zones").select_option("user2")
    params = url_params(page)
    assert params["users"] == "user1,user2" and params["range"] == "24h" and params["tz"] == "UTC"
    assert params["zones"] == "user2" and "from" in params and "to" in params
    heading = page.locator(".chart-head").inner_text()
    shown = (resolution(page), status_points(page), legend_users(page))

    for reopened in (page, open_page(page.url)):
        if reopened is page:
            page.reload()
        wait_drawn(reopened)
        assert url_params(reopened) == params
        assert reopened.locator(".chart-head").inner_text() == heading
        assert (resolution(reopened), status_points(reopened), legend_users(reopened)) == shown
        assert reopened.get_by_role("button", name="Last 24 hours").get_attribute("aria-pressed") == "true"
        assert reopened.get_by_label("Time zone").input_value() == "UTC"
        assert reopened.get_by_label("Heart-rate zones").input_value() == "user2"
    # Back in the browser's history undoes one change at a time: zones, time zone, then the zoom.
    zoomed = drawn_key(page)
    for _ in range(3):
        page.go_back()
    page.wait_for_function("() => !new URLSearchParams(location.search).has('from')")
    wait_drawn(page, after=zoomed)
    assert url_params(page) == {"users": "user1,user2", "range": "24h"}


def test_daily_panel_shows_resting_heart_rate_and_zone_minutes(
    api: ApiServer, dashboard_db: str, open_page: OpenPage
) -> None:
    page = open_page(f"{api.url}/app/?users=user1,user2")
    wait_drawn(page)
    daily = page.locator("section.daily")
    daily.get_by_text("Daily values as a table").click()
    rows = daily.locator("tbody tr")
    rows.first.wait_for()

    with psycopg.connect(dashboard_db) as conn:
        expected = conn.execute(
            "SELECT date::text, user_id, resting_heart_rate, heart_rate_zones FROM activities_heart_summary"
            " ORDER BY user_id, date"
        ).fetchall()
    shown = [row.split("\t") for row in rows.all_inner_texts()]
    by_key = {(cells[0], cells[1]): cells for cells in shown}
    in_range = [row for row in expected if (row[0], row[1]) in by_key]
    assert len(in_range) >= 12  # seven local days per user, less the edge the 7-day window leaves out
    for day, user_id, resting, zones in in_range:
        cells = by_key[day, user_id]
        assert cells[2] == (str(resting) if resting is not None else "\u2013")
        minutes = {zone["name"]: zone["minutes"] for zone in (zones if isinstance(zones, list) else json.loads(zones))}
        assert cells[3:6] == [str(minutes["Fat Burn"]), str(minutes["Cardio"]), str(minutes["Peak"])]
    assert any(row[2] is not None for row in in_range)
    assert daily.get_by_role("heading", name="Resting heart rate").is_visible()
    assert daily.locator("canvas").count() >= 3  # resting heart rate, and zone minutes per user


def test_the_api_error_message_is_shown(api: ApiServer, open_page: OpenPage) -> None:
    page = open_page(f"{api.url}/app/?users=nobody")
    with urllib_json(f"{api.url}/users/nobody") as (status, body):
        assert status == 404
    alert = page.get_by_role("alert").first
    alert.wait_for()
    assert body["detail"] in alert.inner_text()


def test_a_stopped_api_shows_its_error(dashboard_db: str, open_page: OpenPage, tmp_path: Path) -> None:
    server = ApiServer(dashboard_db, tmp_path / "api.log")
    try:
        page = open_page(f"{server.url}/app/")
        wait_drawn(page)
    finally:
        server.stop()
    page.get_by_role("button", name="Last 24 hours").click()
    alert = page.locator(".chart-message.error")
    alert.wait_for()
    assert "The API did not answer" in alert.inner_text()
    assert page.locator(".chart").get_attribute("data-state") == "error"
    assert alert.get_by_role("button", name="Retry").is_visible()


def test_the_first_load_sends_each_request_once(api: ApiServer, open_page: OpenPage) -> None:
    page = open_page(None)
    sent = count_requests(page)
    page.goto(f"{api.url}/app/")
    wait_drawn(page)
    page.locator("section.daily canvas").first.wait_for()
    paths = [request.split("?")[0] for request in sent]
    assert repeated(sent) == [], sent
    assert sorted(set(paths)) == ["/limits", "/multi-user/timeseries", "/summary", "/users", "/users/user1"], sent
    # The detail chart and the overview strip: two time-series requests at different point budgets.
    assert paths.count("/multi-user/timeseries") == 2


@pytest.fixture(scope="module")
def development_build(browser_ready: None, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The dashboard built with React's development runtime, where StrictMode mounts every component
    twice on its first render (as the Vite dev server, ``npm run dev``, serves it)."""
    if not (WEB / "node_modules" / ".bin" / "vite").is_file():
        pytest.skip("web/node_modules is not installed (make web)")
    out = tmp_path_factory.mktemp("web-development")
    env = {**os.environ, "NODE_ENV": "development"}
    command = ["npx", "vite", "build", "--mode", "development", "--outDir", str(out), "--emptyOutDir"]
    subprocess.run(command, cwd=WEB, env=env, check=True, capture_output=True)
    return out


def test_the_development_build_sends_each_first_request_once(
    dashboard_db: str, development_build: Path, open_page: OpenPage, tmp_path: Path
) -> None:
    server = ApiServer(dashboard_db, tmp_path / "api.log", web_dir=development_build)
    try:
        page = open_page(None)
        sent = count_requests(page)
        page.goto(f"{server.url}/app/")
        wait_drawn(page)
        page.locator("section.daily canvas").first.wait_for()
    finally:
        server.stop()
    assert repeated(sent) == [], sent
    assert [request.split("?")[0] for request in sent].count("/multi-user/timeseries") == 2, sent


def test_with_keys_on_a_401_asks_for_a_key_and_keeps_it_for_the_session(
    dashboard_db: str, open_page: OpenPage, tmp_path: Path
) -> None:
    with connection(dashboard_db) as conn:
        _, secret = create_key(conn, name="dashboard test", user_ids=["user1"], registered={"user1", "user2"})
    server = ApiServer(dashboard_db, tmp_path / "api.log", auth="keys")
    try:
        page = open_page(f"{server.url}/app/")
        prompt = page.locator("form.key-prompt")
        prompt.wait_for()
        assert "This API needs a key" in prompt.inner_text()
        page.get_by_label("API key").fill("hr_" + "x" * 43)
        page.get_by_role("button", name="Use this key").click()
        page.get_by_role("heading", name="The API refused this key").wait_for()

        sent = count_requests(page)
        page.get_by_label("API key").fill(secret)
        page.get_by_role("button", name="Use this key").click()
        wait_drawn(page)
        page.locator("section.daily canvas").first.wait_for()
        assert prompt.count() == 0
        # The first load after the key asks for each thing once.
        assert repeated(sent) == [], sent
        assert [request.split("?")[0] for request in sent].count("/multi-user/timeseries") == 2, sent
        # The key sees user1 only (of two), and the header says what it counts.
        assert legend_users(page) == ["user1"]
        assert page.locator("header.top").inner_text().endswith("1 user visible to this key")
        assert page.get_by_label("Add a user").locator("option").all_inner_texts() == ["No other users"]
        page.reload()
        wait_drawn(page)
        assert prompt.count() == 0
        # Another browser session has no key yet.
        other = open_page(page.url)
        other.locator("form.key-prompt").wait_for()
    finally:
        server.stop()


class urllib_json:
    """``with urllib_json(url) as (status, body)``: one GET, also for 4xx answers."""

    def __init__(self, url: str) -> None:
        self.url = url

    def __enter__(self) -> tuple[int, Any]:
        import urllib.error
        import urllib.request

        try:
            with urllib.request.urlopen(self.url, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def __exit__(self, *exc: object) -> None:
        return None
