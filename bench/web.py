"""Dashboard benchmark: first render, zoom round trips and JS heap in headless Chromium.

``make bench-web`` (``.venv/bin/python bench/web.py``; ``--days 3`` for a quick run) loads N users x
D days at one reading per second (default 2 x 30 = 5,184,000 readings) into a throwaway embedded
PostgreSQL the project's way (simulator, ``ingest()``, the 1m/1h/1d aggregates), starts the real
query API (uvicorn, serving the built web/dist under /app/) and drives Debian's Chromium with
Playwright:

1. first render: a fresh page on all the data of both users (range=all), from navigation start to the
   detail chart drawn with data (the page's own ``hr:chart-drawn`` User Timing mark; its clock
   starts at navigation), cold (first page of a new browser) and then warm, several times;
2. zoom round trip: 20 drag-zooms with the mouse, each into the middle sixth of the window (30 days,
   5 days, 20 hours, 3.3 hours, 33 minutes, then Reset zoom and again), from the end of the drag
   (the ``hr:zoom-select`` mark, taken in the mouseup handler) to the chart redrawn with the new
   window's data; p50 and p95, and how much of it the API request took (Resource Timing);
3. the page's JS heap (CDP ``Runtime.getHeapUsage``) after the first render and after the zooms,
   each after a garbage collection.

Targets on this machine: first render under 1.5 s, zoom p95 under 300 ms.

``--study`` times the Study page (/app/study) instead, on bench/study.py's roster (300 participants in
three cohorts x 730 days of wear records, written directly; the page never reads raw readings):

1. first render of ``/app/study?range=2y``: navigation start to the heatmap drawn with all 300 x 730
   cells once both the grid and the status list have arrived (the page's ``hr:study-drawn`` mark),
   cold and then warm, several times;
   and how much of it the /study/compliance request took (Resource Timing, request start to response end);
2. sort/filter round trips: each sort order (both directions), "Flagged only" on and off, and a cohort
   picked and cleared (filtered on the page, no request), from the input event (dispatched from the
   page, its time taken just before) to the heatmap redrawn; p50 and p95 per kind.

Targets (issue 19): first render under 1.5 s, a sort/filter under 200 ms.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from harness import BenchDatabase, log, migrated_database
from playwright.sync_api import Page, sync_playwright

from hr_assets.settings import PROJECT_ROOT

# A script's sys.path starts at bench/: the shared browser helpers live in the test package.
sys.path.insert(0, str(PROJECT_ROOT))
from hr_assets_tests.browser.chromium import (
    ApiServer,
    SimulatedUser,
    launch,
    load_simulated,
    missing_for_browser,
)

FIRST_DAY = date(2025, 6, 1)  # June: no DST change in either zone, so every day is 86,400 readings
USER_SPECS = ((23, "Europe/Berlin"), (37, "America/New_York"))  # the default users' seeds and zones
VIEWPORT = {"width": 1280, "height": 800}
RENDERS = 5
ZOOMS_PER_CYCLE = 5
ZOOM_SHARE = 1 / 6  # each drag selects the middle sixth of the window
WAIT_MS = 60_000
TARGET_FIRST_RENDER_MS = 1500
TARGET_ZOOM_P95_MS = 300
TARGET_STUDY_CHANGE_MS = 200
DATABASE = "hr_bench_web"
STUDY_ROUNDS = 5  # each sort/filter change is timed this many times


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


def marks(page: Page, name: str) -> list[dict[str, Any]]:
    return list(
        page.evaluate("name => performance.getEntriesByName(name).map(m => ({t: m.startTime, detail: m.detail}))", name)
    )


def wait_drawn(page: Page, count: int) -> dict[str, Any]:
    """Wait for the ``count``-th chart-drawn mark with data and the chart ready; that mark."""
    page.wait_for_function(
        """count => performance.getEntriesByName('hr:chart-drawn').filter(m => m.detail.points > 0).length >= count
            && document.querySelector('.chart')?.dataset.state === 'ready'""",
        arg=count,
        timeout=WAIT_MS,
    )
    return [m for m in marks(page, "hr:chart-drawn") if m["detail"]["points"] > 0][count - 1]


def heap_mb(page: Page) -> float:
    cdp = page.context.new_cdp_session(page)
    cdp.send("HeapProfiler.collectGarbage")
    used = cdp.send("Runtime.getHeapUsage")["usedSize"]
    cdp.detach()
    return float(used) / 1e6


def first_render(page: Page, url: str) -> float:
    page.goto(url)
    return float(wait_drawn(page, 1)["t"])


def zoom_once(page: Page, drawn: int) -> tuple[float, float, str]:
    """One drag-zoom into the middle sixth; (round trip ms, API request ms, resolution)."""
    box = page.locator(".chart .u-over").bounding_box()
    assert box
    y = box["y"] + box["height"] / 2
    left = box["x"] + box["width"] * (0.5 - ZOOM_SHARE / 2)
    right = box["x"] + box["width"] * (0.5 + ZOOM_SHARE / 2)
    page.evaluate("() => performance.clearResourceTimings()")
    page.mouse.move(left, y)
    page.mouse.down()
    page.mouse.move((left + right) / 2, y)
    page.mouse.move(right, y)
    page.mouse.up()
    done = wait_drawn(page, drawn)
    selected = marks(page, "hr:zoom-select")[-1]["t"]
    api = page.evaluate(
        """() => performance.getEntriesByType('resource')
            .filter(r => r.name.includes('/multi-user/timeseries'))
            .map(r => r.responseEnd - r.startTime).pop() ?? 0"""
    )
    resolution = str(page.locator("output.status").get_attribute("data-resolution"))
    return float(done["t"]) - float(selected), float(api), resolution


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--days", type=int, default=30, help="days per user (default 30)")
    parser.add_argument("--users", type=int, default=2, help="users (default 2)")
    parser.add_argument("--zooms", type=int, default=20, help="drag-zooms to time (default 20)")
    parser.add_argument("--database-url", help="a server to use (e.g. TimescaleDB) instead of a throwaway one")
    parser.add_argument("--study", action="store_true", help="time the Study page at 300 x 730 instead")
    args = parser.parse_args()
    missing = missing_for_browser()
    if missing:
        raise SystemExit(f"bench-web cannot run: {missing}")
    if args.study:
        study_main(args.database_url)
        return

    users = [
        SimulatedUser(f"u{i + 1:02d}", USER_SPECS[i % 2][0] + 1000 * (i // 2), USER_SPECS[i % 2][1], dense=True)
        for i in range(args.users)
    ]
    days = [FIRST_DAY + timedelta(days=n) for n in range(args.days)]
    scratch = Path(tempfile.mkdtemp(prefix="hr-bench-web-"))
    try:
        with migrated_database(args.database_url, scratch, DATABASE) as database:
            log(f"loading {len(users)} users x {len(days)} dense days (simulator, ingest, aggregates)")
            started = time.perf_counter()
            readings = load_simulated(database.url, users, days)
            log(f"loaded {readings:,} readings in {time.perf_counter() - started:.1f} s; starting the API")
            api = ApiServer(database.url, scratch / "api.log")
            try:
                page_url = f"{api.url}/app/?users={','.join(u.id for u in users)}&range=all"
                result = measure(page_url, args.zooms, scratch / "profile")
            finally:
                api.stop()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    report(result, database, users, days, readings)


@dataclass
class Result:
    page_url: str
    chromium: str
    shown: str  # the status line after the first render
    renders: list[float]
    trips: list[tuple[float, float, str]]  # round trip ms, API request ms, resolution
    heap_first: float
    heap_zoomed: float


def measure(page_url: str, zooms: int, profile: Path) -> Result:
    """Phases 1-3 in one Chromium with a fresh profile."""
    with sync_playwright() as driver:
        browser = launch(driver, profile, viewport=VIEWPORT)
        chromium = browser.browser.version if browser.browser else "?"
        renders: list[float] = []
        for _ in range(RENDERS):
            page = browser.new_page()
            renders.append(first_render(page, page_url))
            page.close()
        page = browser.new_page()
        renders.append(first_render(page, page_url))
        heap_first = heap_mb(page)
        shown = page.locator("output.status").inner_text()
        trips: list[tuple[float, float, str]] = []
        drawn = 1
        while len(trips) < zooms:
            drawn += 1
            trips.append(zoom_once(page, drawn))
            if len(trips) % ZOOMS_PER_CYCLE == 0 and len(trips) < zooms:
                page.get_by_role("button", name="Reset zoom").click()
                drawn += 1
                wait_drawn(page, drawn)
        heap_zoomed = heap_mb(page)
        browser.close()
    return Result(page_url, chromium, shown, renders, trips, heap_first, heap_zoomed)


def report(
    result: Result, database: BenchDatabase, users: list[SimulatedUser], days: list[date], readings: int
) -> None:
    renders, trips = result.renders, result.trips
    total = [t for t, _, _ in trips]
    api = [a for _, a, _ in trips]
    resolutions = ", ".join(f"{r} {sum(1 for *_, x in trips if x == r)}" for r in ("1h", "1m", "1s"))
    print()
    print("hr-pipeline dashboard benchmark")
    print(f"machine : {database.machine}; Chromium {result.chromium} headless")
    print(f"server  : {database.where}, {database.mode.value} mode; API: uvicorn, one worker, on the same machine")
    print(f"data    : {days[0]}..{days[-1]} x {len(users)} users = {readings:,} readings (one per second)")
    size = f"{VIEWPORT['width']}x{VIEWPORT['height']}"
    print(f"page    : /app/{result.page_url.split('/app/')[1]} at {size} ({result.shown})")
    print()
    print(
        f"first render, navigation start -> chart drawn: cold {renders[0]:.0f} ms; warm "
        f"{', '.join(f'{r:.0f}' for r in renders[1:])} ms "
        f"(median {statistics.median(renders[1:]):.0f} ms)"
    )
    print(
        f"zoom round trip over {len(trips)} zooms (drag end -> redrawn): p50 {percentile(total, 0.5):.0f} ms, "
        f"p95 {percentile(total, 0.95):.0f} ms, max {max(total):.0f} ms"
    )
    print(
        f"  of which the API request: p50 {percentile(api, 0.5):.0f} ms, p95 {percentile(api, 0.95):.0f} ms; "
        f"resolutions: {resolutions}"
    )
    slowest = sorted(trips, reverse=True)[:3]
    print("  slowest: " + ", ".join(f"{t:.0f} ms ({r}, API {a:.0f} ms)" for t, a, r in slowest))
    print(f"JS heap (after GC): {result.heap_first:.1f} MB after first render, {result.heap_zoomed:.1f} MB zoomed")
    print()
    first = max(renders)
    p95 = percentile(total, 0.95)
    for label, value, met in (
        (
            f"first render (slowest of {len(renders)}) < {TARGET_FIRST_RENDER_MS} ms",
            f"{first:.0f} ms",
            first < TARGET_FIRST_RENDER_MS,
        ),
        (f"zoom round trip p95 < {TARGET_ZOOM_P95_MS} ms", f"{p95:.0f} ms", p95 < TARGET_ZOOM_P95_MS),
    ):
        print(f"{label:<44} {value:>9}  {'met' if met else 'NOT MET'}")


# --- the Study page --------------------------------------------------------------------------------

# One sort/filter change, dispatched from the page: its start time is taken just before the event.
STUDY_CHANGE = """([kind, value]) => {
    const start = performance.now();
    if (kind === 'checkbox') {
        document.querySelector('.study-controls input[type=checkbox]').click();
    } else if (kind === 'reverse') {
        [...document.querySelectorAll('.study-controls button')].find(b => b.textContent === 'Reverse').click();
    } else {
        const select = [...document.querySelectorAll('.study-controls select')][kind === 'cohort' ? 0 : 1];
        const setter = Object.getOwnPropertyDescriptor(HTMLSelectElement.prototype, 'value').set;
        setter.call(select, value);
        select.dispatchEvent(new Event('change', {bubbles: true}));
    }
    return start;
}"""
# (kind, value, label): a full cycle that ends where it started (compliance, all cohorts, everyone).
STUDY_CHANGES = (
    ("sort", "newest", "sort: newest reading"),
    ("sort", "id", "sort: id"),
    ("reverse", "", "sort: reverse"),
    ("reverse", "", "sort: reverse"),
    ("sort", "compliance", "sort: compliance"),
    ("checkbox", "", "filter: flagged only"),
    ("checkbox", "", "filter: flagged only"),
    ("cohort", "site-a", "filter: cohort"),
    ("cohort", "", "filter: cohort"),
)


def study_drawn_after(page: Page, start: float) -> float:
    """Wait for the heatmap drawn after ``start`` (page clock, ms); when it was drawn."""
    page.wait_for_function(
        "start => performance.getEntriesByName('hr:study-drawn').some(m => m.startTime > start)",
        arg=start,
        timeout=WAIT_MS,
    )
    return float(
        page.evaluate(
            "start => performance.getEntriesByName('hr:study-drawn').find(m => m.startTime > start).startTime", start
        )
    )


# The first render is done when the heatmap is drawn after both the grid and the status list arrived.
FIRST_RENDER = """() => {
    const ends = ['/study/compliance', '/study/participants'].map(path =>
        performance.getEntriesByType('resource').filter(r => r.name.includes(path)).map(r => r.responseEnd).pop());
    if (ends.some(end => end === undefined)) return null;
    const drawn = performance.getEntriesByName('hr:study-drawn').find(m => m.startTime >= Math.max(...ends));
    if (!drawn) return null;
    const grid = performance.getEntriesByType('resource').filter(r => r.name.includes('/study/compliance')).pop();
    return {t: drawn.startTime, grid: grid.responseEnd - grid.startTime, sent: grid.startTime,
            after: drawn.startTime - Math.max(...ends), detail: drawn.detail};
}"""


def study_first_render(page: Page, url: str) -> tuple[float, tuple[float, float, float], dict[str, Any]]:
    """Navigation start -> heatmap drawn (ms); (grid request sent at, its duration, responses -> drawn) (ms);
    the drawn grid's shape."""
    page.goto(url)
    page.wait_for_function(FIRST_RENDER, timeout=WAIT_MS)
    done = page.evaluate(FIRST_RENDER)
    return float(done["t"]), (float(done["sent"]), float(done["grid"]), float(done["after"])), done["detail"]


def study_main(database_url: str | None) -> None:
    from study import COHORTS, DAYS, PARTICIPANTS, populate

    last = datetime.now(UTC).date() - timedelta(days=1)
    scratch = Path(tempfile.mkdtemp(prefix="hr-bench-study-page-"))
    try:
        with migrated_database(database_url, scratch, DATABASE) as database:
            log(f"writing {PARTICIPANTS} participants x {DAYS} days of wear records (not timed)")
            records = populate(database.url, last)
            api = ApiServer(database.url, scratch / "api.log")
            try:
                page_url = f"{api.url}/app/study?range=2y"
                renders, grids, shape, changes, chromium = measure_study(page_url, scratch / "profile")
            finally:
                api.stop()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print()
    print("hr-pipeline Study page benchmark")
    print(f"machine : {database.machine}; Chromium {chromium} headless")
    print(
        f"server  : {database.where}, {database.mode.value} mode; API: uvicorn, one worker, HR_API_AUTH=off, audit on"
    )
    print(f"data    : {PARTICIPANTS} participants in {len(COHORTS)} cohorts x {DAYS} days = {records:,} wear records")
    print(
        f"page    : /app/study?range=2y at {VIEWPORT['width']}x{VIEWPORT['height']}: "
        f"{shape['rows']} x {shape['days']} cells"
    )
    print()
    print(
        f"first render, navigation start -> heatmap drawn: cold {renders[0]:.0f} ms; warm "
        f"{', '.join(f'{r:.0f}' for r in renders[1:])} ms (median {statistics.median(renders[1:]):.0f} ms)"
    )
    for label, part in (
        ("grid request sent at", 0),
        ("grid request (300 x 730) took", 1),
        ("both answers -> drawn", 2),
    ):
        values = [g[part] for g in grids]
        print(f"  {label:<30} {', '.join(f'{v:.0f}' for v in values)} ms (median {statistics.median(values):.0f} ms)")
    print("sort/filter round trip (input event -> heatmap redrawn):")
    worst = 0.0
    for label, times in changes.items():
        worst = max(worst, percentile(times, 0.95))
        print(
            f"  {label:<24} n={len(times):>2}  p50 {percentile(times, 0.5):>5.0f} ms  "
            f"p95 {percentile(times, 0.95):>5.0f} ms"
        )
    print()
    first = max(renders)
    for label, value, met in (
        (
            f"first render (slowest of {len(renders)}) < {TARGET_FIRST_RENDER_MS} ms",
            first,
            first < TARGET_FIRST_RENDER_MS,
        ),
        (f"sort/filter p95 (worst kind) < {TARGET_STUDY_CHANGE_MS} ms", worst, worst < TARGET_STUDY_CHANGE_MS),
    ):
        print(f"{label:<44} {value:>6.0f} ms  {'met' if met else 'NOT MET'}")


def measure_study(
    page_url: str, profile: Path
) -> tuple[list[float], list[tuple[float, float, float]], dict[str, Any], dict[str, list[float]], str]:
    """Renders (ms), their grid requests (ms), the grid's shape, round trips per change, Chromium's version."""
    with sync_playwright() as driver:
        browser = launch(driver, profile, viewport=VIEWPORT)
        chromium = browser.browser.version if browser.browser else "?"
        renders: list[float] = []
        grids: list[tuple[float, float, float]] = []
        for n in range(RENDERS + 1):
            page = browser.new_page()
            render, grid, shape = study_first_render(page, page_url)
            renders.append(render)
            grids.append(grid)
            if n < RENDERS:
                page.close()
        changes: dict[str, list[float]] = {}
        for _ in range(STUDY_ROUNDS):
            for kind, value, label in STUDY_CHANGES:
                start = float(page.evaluate(STUDY_CHANGE, [kind, value]))
                changes.setdefault(label, []).append(study_drawn_after(page, start) - start)
        browser.close()
    return renders, grids, shape, changes, chromium


if __name__ == "__main__":
    main()
