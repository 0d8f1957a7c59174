"""The Study page (/app/study) in a real Chromium against the real query API and its /study routes.

A small study in the warehouse's own wear records (one per participant x loaded day): cohorts, a
participant in Berlin, one who stopped wearing, one who stopped syncing, one who started later, one
retired. Every expectation comes from the API's JSON (or, for the totals, from counting it), never
from the page's code. Each test saves a full-page screenshot under its tmp dir.
"""

from __future__ import annotations

import csv
import io
import json
import urllib.request
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from hr_assets.local import localdb
from hr_assets.warehouse.api_keys import create_key
from hr_assets.warehouse.db import connection
from hr_assets_tests.browser.chromium import PHONE, ApiServer, PageOpener, api_server, missing_for_browser
from hr_assets_tests.conftest import TEMPLATE, create_database, drop_database
from hr_assets_tests.study_data import register, wear

if missing_for_browser() is None:
    from playwright.sync_api import Page, Playwright

pytestmark = pytest.mark.browser

TODAY = datetime.now(UTC).date()
FIRST = TODAY - timedelta(days=40)  # the study's start: before the page's default 30 days


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def _load_study(url: str) -> None:
    """Eight participants in two cohorts and none, with the patterns a coordinator looks for."""
    with connection(url) as conn:
        people = {
            "p01": ("site-a", "Europe/Berlin", FIRST),  # worn all day, every day
            "p02": ("site-a", "UTC", FIRST),  # alternates a valid and a short day
            "p03": ("site-a", "UTC", TODAY - timedelta(days=12)),  # started later
            "p04": ("site-b", "America/New_York", FIRST),  # stopped syncing 6 days ago
            "p05": ("site-b", "UTC", FIRST),  # loaded, but not worn (0 minutes) for 5 days
            "p06": (None, "UTC", FIRST),  # no cohort, valid most days
            "p07": ("site-b", "UTC", FIRST),  # a few hours a day
        }
        for user_id, (cohort, timezone, start) in people.items():
            register(conn, user_id, start=start, timezone=timezone, cohort=cohort)
        register(
            conn,
            "r01",
            start=FIRST,
            cohort="site-a",
            retired_at=datetime.combine(TODAY - timedelta(days=20), datetime.min.time(), UTC),
        )
        for n, day in enumerate(_days(FIRST, TODAY - timedelta(days=1))):
            wear(conn, "p01", day, 1380, "Europe/Berlin")
            wear(conn, "p02", day, 700 if n % 2 else 300)
            if day >= TODAY - timedelta(days=12):
                wear(conn, "p03", day, 650 + n)
            if day < TODAY - timedelta(days=6):
                wear(conn, "p04", day, 800, "America/New_York")
            wear(conn, "p05", day, 0 if day >= TODAY - timedelta(days=5) else 720)
            if n % 7:
                wear(conn, "p06", day, 610)
            wear(conn, "p07", day, 180 + n)
            if day < TODAY - timedelta(days=20):
                wear(conn, "r01", day, 900)
        conn.commit()


@pytest.fixture(scope="module")
def study_db(browser_ready: None, pg_server: localdb.LocalServer, template_url: str) -> Iterator[str]:
    name = "hr_study_page_e2e"
    url = create_database(pg_server, name, template=TEMPLATE)
    _load_study(url)
    yield url
    drop_database(pg_server, name)


@pytest.fixture(scope="module")
def api(study_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    with api_server(study_db, tmp_path_factory.mktemp("api") / "api.log") as server:
        yield server


@pytest.fixture
def open_page(playwright: Playwright, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[PageOpener]:
    opener = PageOpener(playwright, tmp_path / "profiles")
    yield opener
    opener.close(tmp_path / "screenshots", request.node.name)


# --- helpers ----------------------------------------------------------------------------------


def api_json(api: ApiServer, path: str, **params: str) -> Any:
    query = f"?{urlencode(params)}" if params else ""
    with urllib.request.urlopen(f"{api.url}{path}{query}", timeout=10) as response:
        return json.loads(response.read())


def wait_study(page: Page) -> None:
    """Wait until the page shows the current grid: drawn, or a message that there is nothing to draw."""
    page.wait_for_function(
        """() => document.querySelector('section.study')?.dataset.state === 'ready' && (
            (document.querySelector('canvas.heatmap')?.dataset.drawn ?? '') !== ''
            || document.querySelector('.study-message') !== null)"""
    )


def shown_ids(page: Page) -> list[str]:
    return [str(e.get_attribute("data-user")) for e in page.locator("ol.study-status > li").all()]


def shown_range(page: Page) -> tuple[str, str]:
    """The first and last day the page shows."""
    section = page.locator("section.study")
    return str(section.get_attribute("data-start")), str(section.get_attribute("data-end"))


def url_params(page: Page) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(page.url).query).items()}


def cell_centre(page: Page, row: int, day: int) -> tuple[float, float]:
    """Where a cell's centre is on screen (scrolled into view first)."""
    heatmap = page.locator("canvas.heatmap")
    page.evaluate(
        "([row, height]) => window.scrollTo(0, document.querySelector('canvas.heatmap').getBoundingClientRect().top"
        " + window.scrollY + row * height - 200)",
        [row, int(heatmap.get_attribute("data-row-height") or 0)],
    )
    box = heatmap.bounding_box()
    assert box
    days = int(heatmap.get_attribute("data-days") or 0)
    height = int(heatmap.get_attribute("data-row-height") or 0)
    return box["x"] + (day + 0.5) * box["width"] / days, box["y"] + (row + 0.5) * height


def pixel_colours(page: Page) -> list[list[list[int]]]:
    """The colour at the centre of every cell, [row][day] -> [r, g, b], read from the canvas."""
    return list(
        page.evaluate(
            """() => {
                const canvas = document.querySelector('canvas.heatmap');
                const context = canvas.getContext('2d');
                const days = Number(canvas.dataset.days), rows = Number(canvas.dataset.rows);
                const height = Number(canvas.dataset.rowHeight);
                const image = context.getImageData(0, 0, canvas.width, canvas.height).data;
                const out = [];
                for (let r = 0; r < rows; r++) {
                    const line = [];
                    const y = Math.floor((r + 0.5) * height);
                    for (let d = 0; d < days; d++) {
                        const x = Math.floor((d + 0.5) * canvas.width / days);
                        const at = (y * canvas.width + x) * 4;
                        line.push([image[at], image[at + 1], image[at + 2]]);
                    }
                    out.push(line);
                }
                return out;
            }"""
        )
    )


def expected_state(participant: dict[str, Any], index: int, day: str) -> str:
    """What the API's figures say a cell is (the contract's meaning of null and of the due days)."""
    worn = participant["worn_minutes"][index]
    if worn is not None:
        return "valid" if participant["valid"][index] else "invalid"
    last, first = participant["last_due_day"], participant["first_due_day"]
    if last is None or day > last or (first is not None and day < first):
        return "not_due"
    return "no_data"


def colour_kind(rgb: list[int]) -> str:
    """A pixel's colour family: green (valid), amber (not valid), slate (no data), near white (not due)."""
    r, g, b = rgb
    if min(rgb) > 225:
        return "not_due"
    if g > r and g > b:
        return "valid"
    if r > g > b:
        return "invalid"
    if max(rgb) - min(rgb) < 40 and max(rgb) < 200:
        return "no_data"
    return f"unknown {rgb}"


def compliance_share(participant: dict[str, Any], days: list[str]) -> float:
    states = [expected_state(participant, i, day) for i, day in enumerate(days)]
    due = sum(1 for s in states if s != "not_due")
    return states.count("valid") / due if due else -1.0


# --- tests ------------------------------------------------------------------------------------


def test_every_cell_has_the_colour_of_the_apis_figures(api: ApiServer, open_page: PageOpener) -> None:
    page = open_page(f"{api.url}/app/study")
    wait_study(page)
    start, end = shown_range(page)
    grid = api_json(api, "/study/compliance", start=start, end=end)
    assert len(grid["days"]) == 30
    by_id = {p["user_id"]: p for p in grid["participants"]}
    ids = shown_ids(page)
    assert sorted(ids) == sorted(by_id)
    colours = pixel_colours(page)
    kinds: set[str] = set()
    for row, user_id in enumerate(ids):
        for index, day in enumerate(grid["days"]):
            expected = expected_state(by_id[user_id], index, day)
            kinds.add(expected)
            assert colour_kind(colours[row][index]) == expected, (user_id, day, colours[row][index])
    assert kinds == {"valid", "invalid", "no_data", "not_due"}  # the study shows every kind of day

    # Hover: the day's figures, as the API gives them.
    row = ids.index("p03")
    index = next(i for i, w in enumerate(by_id["p03"]["worn_minutes"]) if w is not None)
    page.mouse.move(*cell_centre(page, row, index))
    tip = page.get_by_role("tooltip")
    assert f"p03 · {grid['days'][index]}" in tip.inner_text()
    assert f"({by_id['p03']['worn_minutes'][index]} min): valid" in tip.inner_text()
    row = ids.index("p04")
    page.mouse.move(*cell_centre(page, row, len(grid["days"]) - 2))
    assert "No data" in tip.inner_text()

    # Totals: participants, flagged, due and valid days over what is shown.
    statuses = api_json(api, "/study/participants")["participants"]
    states = [expected_state(p, i, day) for p in grid["participants"] for i, day in enumerate(grid["days"])]
    due = sum(1 for s in states if s != "not_due")
    totals = page.get_by_label("Totals").inner_text()
    assert totals.startswith(f"{len(ids)} participants shown · {sum(1 for s in statuses if s['flags'])} flagged")
    assert f"of {due:,} due days valid ({states.count('valid'):,})" in totals
    assert f"{states.count('no_data'):,} due days without data" in totals


def test_sort_filter_and_cohort_are_in_the_url(api: ApiServer, open_page: PageOpener) -> None:
    page = open_page(f"{api.url}/app/study")
    wait_study(page)
    start, end = shown_range(page)
    grid = api_json(api, "/study/compliance", start=start, end=end)
    share = {p["user_id"]: compliance_share(p, grid["days"]) for p in grid["participants"]}
    # Default: compliance, lowest first (ties by id).
    assert shown_ids(page) == sorted(share, key=lambda user_id: (share[user_id], user_id))

    page.get_by_label("Sort by").select_option("id")
    assert shown_ids(page) == sorted(share)
    page.get_by_role("button", name="Reverse").click()
    assert shown_ids(page) == sorted(share, reverse=True)
    assert url_params(page) == {"sort": "id", "order": "desc"}

    page.get_by_label("Sort by").select_option("newest")
    statuses = {p["user_id"]: p for p in api_json(api, "/study/participants")["participants"]}
    newest = {u: statuses[u]["newest_reading"] or "" for u in share}
    assert shown_ids(page) == sorted(share, key=lambda u: (newest[u], u), reverse=True)

    page.get_by_label("Flagged only").check()
    flagged = {u for u, s in statuses.items() if s["flags"]}
    assert flagged and set(shown_ids(page)) == flagged
    for item in page.locator("ol.study-status > li").all():
        assert item.get_attribute("data-flags") == " ".join(statuses[str(item.get_attribute("data-user"))]["flags"])

    page.get_by_label("Flagged only").uncheck()
    page.get_by_label("Cohort").select_option("site-b")
    page.wait_for_function("() => new URLSearchParams(location.search).get('cohort') === 'site-b'")
    wait_study(page)
    page.wait_for_function("() => document.querySelectorAll('ol.study-status > li').length === 3")
    site_b = [
        p["user_id"] for p in api_json(api, "/study/compliance", start=start, end=end, cohort="site-b")["participants"]
    ]
    assert sorted(shown_ids(page)) == sorted(site_b) == ["p04", "p05", "p07"]
    params = url_params(page)
    assert params == {"sort": "newest", "order": "desc", "cohort": "site-b"}

    shown = shown_ids(page)
    page.reload()
    wait_study(page)
    assert url_params(page) == params and shown_ids(page) == shown
    assert page.get_by_label("Cohort").input_value() == "site-b"
    # Back undoes one change at a time.
    page.go_back()
    page.wait_for_function("() => !new URLSearchParams(location.search).has('cohort')")
    wait_study(page)
    assert len(shown_ids(page)) == len(share)


def test_the_range_picker_asks_for_the_days_shown(api: ApiServer, open_page: PageOpener) -> None:
    page = open_page(f"{api.url}/app/study")
    wait_study(page)
    page.get_by_role("button", name="90 d").click()
    page.wait_for_function("() => document.querySelector('canvas.heatmap')?.dataset.days === '90'")
    assert url_params(page) == {"range": "90d"}
    page.get_by_label("From", exact=True).fill((TODAY - timedelta(days=10)).isoformat())
    page.get_by_label("To", exact=True).fill((TODAY - timedelta(days=3)).isoformat())
    page.get_by_role("button", name="Show").click()
    page.wait_for_function("() => document.querySelector('canvas.heatmap')?.dataset.days === '8'")
    assert url_params(page) == {
        "start": (TODAY - timedelta(days=10)).isoformat(),
        "end": (TODAY - timedelta(days=3)).isoformat(),
    }
    # More days than the API's published limit: said on the page.
    limit = api_json(api, "/limits")["max_compliance_days"]
    page.goto(f"{api.url}/app/study?start=2020-01-01&end={(date(2020, 1, 1) + timedelta(days=limit)).isoformat()}")
    alert = page.get_by_role("alert").filter(has_text=f"at most {limit:,} at once")
    alert.wait_for()


def test_a_click_opens_the_explorer_on_that_participant_and_day(api: ApiServer, open_page: PageOpener) -> None:
    page = open_page(f"{api.url}/app/study?sort=id")
    wait_study(page)
    start, end = shown_range(page)
    days = api_json(api, "/study/compliance", start=start, end=end)["days"]
    row = shown_ids(page).index("p01")
    page.mouse.click(*cell_centre(page, row, 10))
    page.wait_for_url(lambda url: "users=p01" in url)
    params = url_params(page)
    day = date.fromisoformat(days[10])
    assert params["users"] == "p01" and params["range"] == "custom" and params["tz"] == "Europe/Berlin"
    # The participant's local day: midnight to midnight in Berlin (+1 h in winter, +2 h in summer).
    start_at = datetime.fromisoformat(params["start"].replace("Z", "+00:00"))
    end_at = datetime.fromisoformat(params["end"].replace("Z", "+00:00"))
    assert start_at.date() in (day, day - timedelta(days=1)) and start_at.hour in (22, 23)
    assert timedelta(hours=23) <= end_at - start_at <= timedelta(hours=25)
    page.locator(".chart").wait_for()
    assert page.get_by_role("heading", name="Heart rate", exact=True).is_visible()
    page.go_back()
    wait_study(page)
    assert url_params(page) == {"sort": "id"}


def test_the_csv_download_is_what_is_shown(api: ApiServer, open_page: PageOpener) -> None:
    page = open_page(f"{api.url}/app/study?cohort=site-a&sort=id")
    wait_study(page)
    start, end = shown_range(page)
    grid = api_json(api, "/study/compliance", start=start, end=end, cohort="site-a")
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download CSV").click()
    download = download_info.value
    assert download.suggested_filename == f"study_{start}_{end}_site-a.csv"
    rows = list(csv.DictReader(io.StringIO(Path(download.path()).read_text())))
    ids = shown_ids(page)
    assert ids == ["p01", "p02", "p03", "r01"]
    assert [r["user_id"] for r in rows] == [u for u in ids for _ in grid["days"]]
    by_id = {p["user_id"]: p for p in grid["participants"]}
    for n, record in enumerate(rows):
        participant, index = by_id[record["user_id"]], n % len(grid["days"])
        worn = participant["worn_minutes"][index]
        assert record["day"] == grid["days"][index]
        assert record["worn_minutes"] == ("" if worn is None else str(worn))
        assert record["state"] == expected_state(participant, index, record["day"])


def test_on_a_phone_the_page_fits_and_a_tap_shows_the_day(api: ApiServer, open_page: PageOpener) -> None:
    page = open_page(f"{api.url}/app/study?range=2y", **PHONE)
    wait_study(page)
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    heatmap = page.locator("canvas.heatmap")
    assert heatmap.get_attribute("data-days") == "730"
    box = heatmap.bounding_box()
    assert box and box["width"] > 150 and box["x"] + box["width"] <= 375
    ids = shown_ids(page)
    x, y = cell_centre(page, ids.index("p02"), 700)
    page.touchscreen.tap(x, y)
    tip = page.get_by_role("tooltip")
    tip.wait_for()
    assert "p02" in tip.inner_text()
    assert tip.get_by_role("link", name="Open this day").get_attribute("href", timeout=1000)
    assert "/app/" in page.url and "study" in page.url  # a tap shows, it does not navigate


def test_a_cohort_key_sees_its_cohort_only(study_db: str, open_page: PageOpener, tmp_path: Path) -> None:
    with connection(study_db) as conn:
        _, secret = create_key(conn, name="site-b coordinator", user_ids=[], cohort="site-b", registered=set())
        conn.commit()
    server = ApiServer(study_db, tmp_path / "api.log", auth="keys")
    try:
        page = open_page(f"{server.url}/app/study?sort=id")
        page.locator("form.key-prompt").wait_for()
        page.get_by_label("API key").fill(secret)
        page.get_by_role("button", name="Use this key").click()
        wait_study(page)
        assert shown_ids(page) == ["p04", "p05", "p07"]
        assert page.get_by_label("Cohort").locator("option").all_inner_texts() == ["All cohorts", "site-b"]
        assert page.locator("header.top").inner_text().endswith("3 users visible to this key")
        assert page.get_by_label("Totals").inner_text().startswith("3 participants shown")
    finally:
        server.stop()
