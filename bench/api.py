"""API benchmark: the query API over loopback against the same SQL run directly, side by side in one run.

``make bench-api`` (``.venv/bin/python bench/api.py``; ``--days 3`` for a quick run) loads N days x 2
users at one reading per second (default 30 days: 5,184,000 readings) as the pipeline loads them
(``ingest`` of the simulator's dense days, then the 1m/1h/1d refresh), starts ``hr api`` (uvicorn,
``HR_API_AUTH=off``) on 127.0.0.1, and for each kind of dashboard query below measures:

- API: HTTP requests from this process (http.client, one keep-alive connection per thread) at
  concurrency 1 and 8, the whole body read (decoded and checked during the warm-up only);
- SQL: the same statements the API's route runs for that request (the users' extents, the
  resolution estimates, the points query), executed directly with psycopg from this process, one
  connection per thread, at the same concurrency.

It prints p50/p95/p99 latency and requests/s for both, and their ratios. Query windows end at the
end of the loaded range ("now" for the dashboard). Every request is checked for a 200 and the
expected resolution; warm-up requests are not counted.

``--audit-cost`` also starts a second API with the audit log off (HR_API_AUDIT=off) and measures every kind
against both, alternating between them in rounds, printing each one's requests per second and the audit's share of
them (target: at most 10 %).

By default a throwaway embedded PostgreSQL runs in a temporary folder; ``--database-url`` uses
another server (e.g. TimescaleDB), where the database ``hr_bench_api`` is re-created and dropped.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
import psycopg
from harness import drop_database, log, machine, recreate_database, server, wait_until

from hr_api.params import DEFAULT_MAX_POINTS
from hr_api.resolution import plan
from hr_assets import localdb
from hr_assets.ingest import changed_windows, ingest
from hr_assets.sources import SOURCES
from hr_assets.user_day import UserDay
from hr_assets.warehouse import readings
from hr_assets.warehouse.aggregates import LEVELS, refresh
from hr_assets.warehouse.db import Warehouse, connect, detect_mode
from hr_assets.warehouse.migrations import migrate
from hr_assets.warehouse.readings import Resolution
from hr_assets.warehouse.users import NewUser, add_user, users_by_id

# A June range: no DST change in either zone.
FIRST_DAY = date(2025, 6, 1)
DEFAULT_DAYS = 30
# Seeds and zones of the project's default users (hr_assets.cli.DEFAULT_USERS).
USERS = (("user1", 23, "Europe/Berlin"), ("user2", 37, "America/New_York"))
DATABASE = "hr_bench_api"
WARMUP = 20
REQUESTS = {1: 200, 8: 400}  # measured requests per kind at each concurrency
# Targets of the brief for this 2-core machine.
TARGET_EXTRA_P50_MS = 3.0
TARGET_THROUGHPUT_RATIO = 0.5
TARGET_P95_MS = 25.0
# The audit log may cost at most this share of the API's requests per second (docs/study.md).
TARGET_AUDIT_COST = 0.10


@dataclass(frozen=True)
class Kind:
    name: str
    window: timedelta
    users: tuple[str, ...]
    interval: Resolution | None  # None: automatic
    expected: Resolution
    max_points: int = DEFAULT_MAX_POINTS

    def params(self, end: datetime) -> dict[str, Any]:
        params: dict[str, Any] = {"start_date": (end - self.window).isoformat(), "end_date": end.isoformat()}
        if len(self.users) == 1:
            params["user_id"] = self.users[0]
        else:
            params["user_ids"] = ",".join(self.users)
        if self.interval is not None:
            params["interval"] = self.interval.value
        if self.max_points != DEFAULT_MAX_POINTS:
            params["max_points"] = self.max_points
        return params

    @property
    def path(self) -> str:
        return "/timeseries" if len(self.users) == 1 else "/multi-user/timeseries"


MINUTE, HOUR, DAY = timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)
ONE, BOTH = ("user1",), ("user1", "user2")
KINDS = [
    Kind("last 10 min, auto", 10 * MINUTE, ONE, None, Resolution.RAW),
    Kind("last hour, auto", HOUR, ONE, None, Resolution.MINUTE),
    Kind("last day, auto", DAY, ONE, None, Resolution.MINUTE),
    Kind("last week, auto", 7 * DAY, ONE, None, Resolution.HOUR),
    Kind("last 30 days, auto", 30 * DAY, ONE, None, Resolution.HOUR),
    Kind("2 users, last hour, auto", HOUR, BOTH, None, Resolution.MINUTE),
    Kind("2 users, last day, auto", DAY, BOTH, None, Resolution.HOUR),
    Kind("2 users, last week, auto", 7 * DAY, BOTH, None, Resolution.HOUR),
    Kind("last 10 min, 1s", 10 * MINUTE, ONE, Resolution.RAW, Resolution.RAW),
    Kind("last hour, 1s (3,600 points)", HOUR, ONE, Resolution.RAW, Resolution.RAW, 20_000),
    Kind("last day, 1m", DAY, ONE, Resolution.MINUTE, Resolution.MINUTE),
    Kind("2 users, last 30 days, 1d", 30 * DAY, BOTH, Resolution.DAY, Resolution.DAY),
]


@dataclass(frozen=True)
class Measured:
    latencies_ms: list[float]
    seconds: float

    def percentile(self, q: int) -> float:
        return statistics.quantiles(self.latencies_ms, n=100, method="inclusive")[q - 1]

    @property
    def per_second(self) -> float:
        return len(self.latencies_ms) / self.seconds


def load(url: str, days: list[date]) -> int:
    """Register the two users (dense simulated days) and load them as the pipeline does; the rows."""
    migrate(url)
    warehouse = Warehouse(url)
    with warehouse.connection() as conn:
        for user_id, seed, timezone in USERS:
            user = NewUser(user_id, timezone, days[0], seed=seed, source_config={"dense": True})
            add_user(conn, user, known_sources=SOURCES.kinds)
        conn.commit()
        registered = users_by_id(conn, [u for u, _, _ in USERS])
    partitions = [UserDay(user_id, day) for user_id, _, _ in USERS for day in days]
    for payload in ("intraday", "summary"):
        report = ingest(warehouse, SOURCES, registered, partitions, payload)
        if report.failures:
            raise SystemExit(f"loading failed: {report.failures[:3]}")
    for name in ("1m", "1h", "1d"):
        refresh(warehouse, LEVELS[name], changed_windows(registered, partitions))
    with connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
        row = conn.execute("SELECT count(*) FROM activities_heart_intraday").fetchone()
    return int(row[0]) if row else 0


def run(concurrency: int, count: int, request: Callable[[int], None]) -> Measured:
    """``count`` calls of ``request`` (given a worker index) from ``concurrency`` threads."""
    latencies: list[float] = []
    lock = threading.Lock()
    per_worker = [count // concurrency + (1 if i < count % concurrency else 0) for i in range(concurrency)]

    def worker(index: int) -> None:
        mine = []
        for _ in range(per_worker[index]):
            started = time.perf_counter()
            request(index)
            mine.append((time.perf_counter() - started) * 1000)
        with lock:
            latencies.extend(mine)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(worker, range(concurrency)))
    return Measured(latencies, time.perf_counter() - started)


class Client:
    """A keep-alive HTTP/1.1 client with as little overhead as Python allows (http.client)."""

    def __init__(self, base: str) -> None:
        parts = urlsplit(base)
        self._connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)

    def get(self, target: str) -> tuple[int, bytes]:
        self._connection.request("GET", target)
        response = self._connection.getresponse()
        return response.status, response.read()

    def close(self) -> None:
        self._connection.close()


def api_requester(kind: Kind, end: datetime, clients: list[Client], *, check: bool) -> Callable[[int], None]:
    """A request of ``kind``; ``check``: also decode the answer and check its resolution (warm-up only)."""
    target = f"{kind.path}?{urlencode(kind.params(end))}"

    def request(index: int) -> None:
        status, body = clients[index].get(target)
        if status != 200:
            raise SystemExit(f"{kind.name}: HTTP {status}: {body[:200]!r}")
        if check:
            interval = json.loads(body)["metadata"]["query_info"]["interval"]
            if interval != kind.expected.value:
                raise SystemExit(f"{kind.name}: served at {interval}, expected {kind.expected.value}")

    return request


def sql_requester(kind: Kind, end: datetime, conns: list[psycopg.Connection]) -> Callable[[int], None]:
    """The statements the route runs: extents, the resolution plan's estimates, the points."""
    start = end - kind.window
    user_ids = list(kind.users)

    def request(index: int) -> None:
        conn = conns[index]
        extents = readings.user_extents(conn, user_ids)
        chosen = plan(kind.interval, extents, start, end, kind.max_points, readings.PointCounts(conn, user_ids))
        if chosen.resolution is not kind.expected:
            raise SystemExit(f"{kind.name}: planned {chosen.resolution.value}, expected {kind.expected.value}")
        readings.points(conn, chosen.resolution, user_ids, start, end)

    return request


def start_api(url: str, scratch: Path, workers: int, audit: str = "on") -> tuple[subprocess.Popen[bytes], str]:
    port = localdb.free_port()
    env = {**os.environ, "HR_DATABASE_URL": url, "HR_API_AUTH": "off", "HR_HOME": str(scratch / "hr")}
    env["HR_API_AUDIT"] = audit
    command = [str(Path(sys.executable).parent / "hr"), "api", "--port", str(port), "--workers", str(workers)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        try:
            return httpx.get(f"{base}/health", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    wait_until(process, healthy, "hr api", 60)
    return process, base


def row(label: str, api: Measured, direct: Measured) -> str:
    extra = api.percentile(50) - direct.percentile(50)
    return (
        f"{label:<34} {api.percentile(50):>6.1f} {api.percentile(95):>6.1f} {api.percentile(99):>6.1f} "
        f"{api.per_second:>7.0f} | {direct.percentile(50):>6.1f} {direct.percentile(95):>6.1f} "
        f"{direct.percentile(99):>6.1f} {direct.per_second:>7.0f} | {extra:>+6.1f} "
        f"{api.per_second / direct.per_second:>5.2f}"
    )


# The audit comparison alternates between the two APIs in this many rounds, so that a change of the machine's load
# during the run weighs on both alike.
AUDIT_ROUNDS = 10


def audit_pair(
    bases: tuple[str, str], kind: Kind, end: datetime, concurrency: int, count: int
) -> tuple[Measured, Measured]:
    """``kind`` against the API with the audit log and the one without, alternating AUDIT_ROUNDS times."""
    clients = [[Client(base) for _ in range(concurrency)] for base in bases]
    measured: list[list[Measured]] = [[], []]
    try:
        for side in clients:
            run(concurrency, WARMUP, api_requester(kind, end, side, check=True))
        for _ in range(AUDIT_ROUNDS):
            for side, found in zip(clients, measured, strict=True):
                found.append(
                    run(concurrency, max(count // AUDIT_ROUNDS, 1), api_requester(kind, end, side, check=False))
                )
    finally:
        for client in (c for side in clients for c in side):
            client.close()
    on, off = (
        Measured([t for m in found for t in m.latencies_ms], sum(m.seconds for m in found)) for found in measured
    )
    return on, off


def audit_cost(kinds: list[Kind], pairs: dict[tuple[str, int], tuple[Measured, Measured]]) -> list[str]:
    """Print requests per second with and without the audit log per kind and concurrency; the targets missed."""
    failures = []
    for concurrency in REQUESTS:
        print()
        print(f"concurrency {concurrency}: the audit log's cost (req/s with it, without it, share lost)")
        on_total = off_total = 0.0
        for kind in kinds:
            on, plain = (m.per_second for m in pairs[kind.name, concurrency])
            on_total, off_total = on_total + on, off_total + plain
            print(f"{kind.name:<34} {on:>7.0f} {plain:>7.0f} {1 - on / plain:>6.1%}")
        share = 1 - on_total / off_total
        print(f"{'all kinds (sum of req/s)':<34} {on_total:>7.0f} {off_total:>7.0f} {share:>6.1%}")
        if share > TARGET_AUDIT_COST:
            failures.append(f"audit log: {share:.1%} of the requests per second at concurrency {concurrency}")
    return failures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--days", type=int, default=DEFAULT_DAYS, help="days per user (default 30)")
    parser.add_argument("--database-url", help="use this server (e.g. TimescaleDB) instead of a throwaway one")
    parser.add_argument("--api-workers", type=int, default=1, help="API worker processes (hr api --workers)")
    parser.add_argument("--audit-cost", action="store_true", help="also measure an API with the audit log off")
    args = parser.parse_args()
    days = [FIRST_DAY + timedelta(days=n) for n in range(args.days)]
    # "Now" for the dashboard: the end of the loaded range, in UTC.
    end = datetime.combine(days[-1], datetime.min.time(), UTC) + timedelta(hours=20)
    kinds = [k for k in KINDS if k.window <= end - datetime.combine(days[0], datetime.min.time(), UTC)]
    scratch = Path(tempfile.mkdtemp(prefix="hr-bench-api-"))
    results: dict[tuple[str, int], tuple[Measured, Measured]] = {}
    pairs: dict[tuple[str, int], tuple[Measured, Measured]] = {}  # (with the audit log, without)
    with server(args.database_url, scratch) as (admin_url, where):
        url = recreate_database(admin_url, DATABASE)
        try:
            log(f"loading {len(days)} dense days x {len(USERS)} users (not timed)")
            rows = load(url, days)
            with connect(url) as conn:
                mode = detect_mode(conn)
                about = machine(conn, mode)
            process, base = start_api(url, scratch, args.api_workers)
            plain: subprocess.Popen[bytes] | None = None
            try:
                if args.audit_cost:
                    plain, plain_base = start_api(url, scratch, args.api_workers, "off")
                for concurrency, count in REQUESTS.items():
                    clients = [Client(base) for _ in range(concurrency)]
                    conns = [connect(url, autocommit=True) for _ in range(concurrency)]
                    try:
                        for kind in kinds:
                            log(f"concurrency {concurrency}: {kind.name}")
                            direct = sql_requester(kind, end, conns)
                            for client in clients:  # reconnects at the warm-up: uvicorn drops idle connections
                                client.close()
                            run(concurrency, WARMUP, api_requester(kind, end, clients, check=True))
                            run(concurrency, WARMUP, direct)
                            api = run(concurrency, count, api_requester(kind, end, clients, check=False))
                            results[kind.name, concurrency] = (api, run(concurrency, count, direct))
                            if plain is not None:
                                pairs[kind.name, concurrency] = audit_pair(
                                    (base, plain_base), kind, end, concurrency, count
                                )
                    finally:
                        for client in clients:
                            client.close()
                        for conn in conns:
                            conn.close()
            finally:
                for started in (process, plain):
                    if started is not None:
                        started.terminate()
                        started.wait(timeout=30)
        finally:
            drop_database(admin_url, DATABASE)

    print()
    print("hr-pipeline API benchmark")
    print(f"machine : {about}")
    print(
        f"server  : {where}, {mode.value} mode; API: hr api (uvicorn, {args.api_workers} worker(s)) on 127.0.0.1, "
        "HR_API_AUTH=off"
    )
    print(f"data    : {days[0]}..{days[-1]} x {len(USERS)} users, {rows:,} readings (one per second)")
    print(f"method  : per kind {WARMUP} warm-up requests, then {REQUESTS[1]} at concurrency 1 and {REQUESTS[8]} at 8;")
    print("          API = HTTP from this process (http.client keep-alive; the body read, not decoded),")
    print("          SQL = the route's statements run directly (psycopg), one connection per thread")
    header = (
        f"{'kind':<34} {'p50':>6} {'p95':>6} {'p99':>6} {'req/s':>7} | {'p50':>6} {'p95':>6} {'p99':>6} "
        f"{'req/s':>7} | {'+p50':>6} {'req/s':>5}"
    )
    failures = []
    for concurrency in REQUESTS:
        print()
        print(f"concurrency {concurrency}: API (ms, ms, ms, req/s) | SQL direct | API - SQL p50 (ms), API/SQL req/s")
        print(header)
        for kind in kinds:
            api, direct = results[kind.name, concurrency]
            print(row(kind.name, api, direct))
            if concurrency == 1:
                if api.percentile(50) > direct.percentile(50) + TARGET_EXTRA_P50_MS:
                    failures.append(f"{kind.name}: API p50 over SQL p50 + {TARGET_EXTRA_P50_MS} ms")
                if api.percentile(95) > TARGET_P95_MS:
                    failures.append(f"{kind.name}: API p95 over {TARGET_P95_MS} ms")
            elif api.per_second < TARGET_THROUGHPUT_RATIO * direct.per_second:
                failures.append(f"{kind.name}: API throughput under {TARGET_THROUGHPUT_RATIO} x SQL at concurrency 8")
    if pairs:
        failures += audit_cost(kinds, pairs)
    print()
    print(
        f"targets: API p50 <= SQL p50 + {TARGET_EXTRA_P50_MS:g} ms and p95 <= {TARGET_P95_MS:g} ms at concurrency 1; "
        f"API req/s >= {TARGET_THROUGHPUT_RATIO} x SQL at 8"
    )
    print("all met" if not failures else "NOT MET:\n  " + "\n  ".join(failures))


if __name__ == "__main__":
    main()
