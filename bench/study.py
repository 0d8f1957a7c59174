"""Study view benchmark: the compliance grid and the participant list through the API against the same statements
run directly, side by side in one run.

``make bench-study`` (``.venv/bin/python bench/study.py``) registers 300 participants in three cohorts and writes
730 days of wear records for each (the intraday load records the study view reads; written directly with one
INSERT ... SELECT, since the grid never reads the raw readings: about 5 % of the days have no record, the rest
0 to 1,440 worn minutes), starts ``hr api`` (uvicorn, ``HR_API_AUTH=off``, the audit log on) on 127.0.0.1, and
measures at concurrency 1, after warm-up requests:

- API: GET /study/compliance (300 x 90 and 300 x 730 days, JSON; 300 x 90 as CSV) and /study/participants,
  the whole body read;
- SQL: the statements the route runs (the participants in scope, their wear records or status figures),
  executed directly with psycopg from this process, rows fetched.

It prints p50/p95 for both and checks the targets: the 300 x 90 grid's p95 under 150 ms, the 300 x 730 grid's
under 1 s. ``--database-url`` uses another server (e.g. TimescaleDB), where ``hr_bench_study`` is re-created and
dropped.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
from api import start_api
from harness import log, migrated_database

from hr_assets.domain.study import due_days
from hr_assets.warehouse.db import connect
from hr_assets.warehouse.study import Scope, study_users, wear_grid, wear_records, wear_status

DATABASE = "hr_bench_study"
PARTICIPANTS = 300
COHORTS = ("site-a", "site-b", "site-c")
DAYS = 730
# The targets on this machine (p95, ms).
TARGET_GRID_90_P95_MS = 150.0
TARGET_GRID_730_P95_MS = 1000.0
WARMUP = 3
# Requests measured per case: fewer for the large grid, whose single request takes the longest.
REQUESTS = {"grid 300 x 90 (JSON)": 40, "grid 300 x 90 (CSV)": 20, "grid 300 x 730 (JSON)": 15, "participants": 40}
# Wear records: (user, day) pairs whose hash falls in the lowest 5 % have none (a day the watch never synced).
MISSING_SHARE_PERCENT = 5
EVERYONE = Scope(all_users=True, user_ids=frozenset())
VALID_DAY_MINUTES = 600  # HR_VALID_DAY_MINUTES' default: the API runs with it

WEAR_RECORDS = """
INSERT INTO partition_loads (user_id, date, payload, rows_loaded, rows_quarantined, covered_seconds, day_seconds,
                             first_reading, last_reading)
SELECT u.id, d::date, 'intraday', w.worn * 12, 0, w.worn * 60, 86400,
       CASE WHEN w.worn > 0 THEN d + interval '6 hours' END,
       CASE WHEN w.worn > 0 THEN d + interval '6 hours' + w.worn * interval '1 minute' END
FROM users AS u
CROSS JOIN generate_series(%(first)s::timestamptz, %(last)s::timestamptz, interval '1 day') AS d
CROSS JOIN LATERAL (SELECT abs(hashtext(u.id || d::text)) AS h) AS hashed
CROSS JOIN LATERAL (SELECT (hashed.h / 100) %% 1441 AS worn) AS w
WHERE hashed.h %% 100 >= %(missing)s
"""


def populate(url: str, last: date) -> int:
    """Register the participants and write their wear records; the number of records."""
    first = last - timedelta(days=DAYS - 1)
    with connect(url, autocommit=True) as conn:
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO users (id, display_name, timezone, start_date, cohort, seed)"
                " VALUES (%s, %s, 'UTC', %s, %s, 1)",
                [(f"p{i:03d}", f"p{i:03d}", first, COHORTS[i % len(COHORTS)]) for i in range(PARTICIPANTS)],
            )
        written = conn.execute(WEAR_RECORDS, {"first": first, "last": last, "missing": MISSING_SHARE_PERCENT}).rowcount
        conn.execute("ANALYZE partition_loads")
    return written


def timed(count: int, request: Callable[[], None]) -> list[float]:
    """Milliseconds of each of ``count`` calls, after WARMUP unmeasured ones."""
    for _ in range(WARMUP):
        request()
    times = []
    for _ in range(count):
        started = time.perf_counter()
        request()
        times.append((time.perf_counter() - started) * 1000)
    return times


def p(times: list[float], q: int) -> float:
    return statistics.quantiles(times, n=100, method="inclusive")[q - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--database-url", help="use this server (e.g. TimescaleDB) instead of a throwaway one")
    parser.add_argument("--requests", type=int, help="measure each case this many times (default: per case, above)")
    args = parser.parse_args()
    if args.requests is not None and args.requests < 2:
        parser.error("--requests: at least 2 (percentiles need two measurements)")
    counts = {name: args.requests or count for name, count in REQUESTS.items()}
    today = datetime.now(UTC).date()
    last = today - timedelta(days=1)
    scratch = Path(tempfile.mkdtemp(prefix="hr-bench-study-"))
    results: dict[str, tuple[list[float], list[float]]] = {}
    load_at_start = os.getloadavg()[0]  # the machine's other work, printed with the figures
    with migrated_database(args.database_url, scratch, DATABASE) as db:
        log(f"writing {PARTICIPANTS} participants x {DAYS} days of wear records (not timed)")
        records = populate(db.url, last)
        process, base = start_api(db.url, scratch, 1, "off")
        try:
            with httpx.Client(base_url=base, timeout=60) as client, connect(db.url, autocommit=True) as conn:
                cases = _cases(client, conn, last)
                for name, (api, direct) in cases.items():
                    log(name)
                    results[name] = (timed(counts[name], api), timed(counts[name], direct))
                audited = conn.execute("SELECT count(*) FROM api_audit_log").fetchone()
        finally:
            process.terminate()
            process.wait(timeout=30)

    print()
    print("hr-pipeline study view benchmark")
    print(f"machine : {db.machine}")
    print(f"server  : {db.where}, {db.mode.value} mode; API: hr api (uvicorn, 1 worker), HR_API_AUTH=off, audit on")
    print(f"data    : {PARTICIPANTS} participants in {len(COHORTS)} cohorts x {DAYS} days = {records:,} wear records")
    print(f"method  : {WARMUP} warm-up requests, then the counts below at concurrency 1; API = HTTP, body read;")
    print("          SQL = the route's statements run directly (psycopg), rows fetched")
    print(f"audit   : {audited[0] if audited else 0:,} rows written by the API during the run")
    print(f"load    : 1-minute load average {load_at_start:.1f} at the start, {os.getloadavg()[0]:.1f} at the end")
    print()
    print(f"{'case':<24} {'n':>3} | {'API p50':>8} {'p95':>8} | {'SQL p50':>8} {'p95':>8} | {'API/SQL p50':>11}")
    for name, (api_times, sql_times) in results.items():
        print(
            f"{name:<24} {len(api_times):>3} | {p(api_times, 50):>8.1f} {p(api_times, 95):>8.1f} | "
            f"{p(sql_times, 50):>8.1f} {p(sql_times, 95):>8.1f} | {p(api_times, 50) / p(sql_times, 50):>11.2f}"
        )
    failures = []
    if p(results["grid 300 x 90 (JSON)"][0], 95) >= TARGET_GRID_90_P95_MS:
        failures.append(f"grid 300 x 90: API p95 not under {TARGET_GRID_90_P95_MS:g} ms")
    if p(results["grid 300 x 730 (JSON)"][0], 95) >= TARGET_GRID_730_P95_MS:
        failures.append(f"grid 300 x 730: API p95 not under {TARGET_GRID_730_P95_MS:g} ms")
    print()
    print(f"targets: grid 300 x 90 p95 < {TARGET_GRID_90_P95_MS:g} ms, 300 x 730 p95 < {TARGET_GRID_730_P95_MS:g} ms")
    print("all met" if not failures else "NOT MET:\n  " + "\n  ".join(failures))
    if failures:
        sys.exit(1)


def _cases(
    client: httpx.Client, conn: psycopg.Connection, last: date
) -> dict[str, tuple[Callable[[], None], Callable[[], None]]]:
    """Per case: the API request and the same statements run directly."""

    def api(path: str, **params: str) -> Callable[[], None]:
        def request() -> None:
            response = client.get(path, params=params)
            if response.status_code != 200:
                raise SystemExit(f"{path}: {response.status_code} {response.text[:200]}")

        return request

    def grid(days: int) -> Callable[[], None]:
        def statements() -> None:
            users = study_users(conn, EVERYONE)
            wear_grid(conn, [u.user_id for u in users], last - timedelta(days=days - 1), last)

        return statements

    def csv_records() -> None:
        users = study_users(conn, EVERYONE)
        wear_records(conn, [u.user_id for u in users], last - timedelta(days=89), last)

    def participants() -> None:
        users = study_users(conn, EVERYONE)
        now = datetime.now(UTC)
        wear_status(conn, [due_days(u, now) for u in users], VALID_DAY_MINUTES)

    def window(days: int) -> dict[str, str]:
        return {"start": (last - timedelta(days=days - 1)).isoformat(), "end": last.isoformat()}

    return {
        "grid 300 x 90 (JSON)": (api("/study/compliance", **window(90)), grid(90)),
        "grid 300 x 90 (CSV)": (api("/study/compliance", format="csv", **window(90)), csv_records),
        "grid 300 x 730 (JSON)": (api("/study/compliance", **window(730)), grid(730)),
        "participants": (api("/study/participants"), participants),
    }


if __name__ == "__main__":
    main()
