"""A study of hundreds of participants: registration, loads, sensor ticks and the Dagster UI at scale.

    python bench/scale.py [--users 300] [--history-days 730] [--database-url URL]

Builds the case on the server it is given (a throwaway embedded PostgreSQL by default;
``--database-url`` for TimescaleDB): ``--users`` participants from a roster, each registered
``--history-days`` back, on a power-saving simulated watch (one reading per 10 minutes, so that a
day is cheap and the figures are Dagster's and the warehouse's, not the simulator's). Then it
measures, each the way a user meets it:

- registration: ``hr users import`` of the roster (one process, partitions synced once);
- ``hr backfill --last-days 2`` for every user (a process, as typed);
- one user's year of history through the CLI (``hr backfill --user``), seconds per user-day;
- the ``users_sensor`` tick: the first (every user's history due) and a steady one;
- the nightly load: the schedule's ranges run one after the other, and its wall time;
- the freshness job (the ``latest_day_loaded`` check over every user);
- the Dagster UI: the webserver's GraphQL queries of the catalog and the asset page's
  partitions view, and the webserver's memory.

Everything runs on 127.0.0.1; the databases are dropped afterwards.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from harness import drop_database, log, recreate_database, server, wait_until

from hr_assets import localdb
from hr_assets.settings import PROJECT_ROOT

BIN = Path(sys.executable).parent
# Time zones on both sides of UTC, as a multi-site study has them.
ZONES = ("America/Los_Angeles", "America/New_York", "Europe/London", "Europe/Berlin", "Asia/Kolkata", "Asia/Tokyo")
INTERVAL_SECONDS = 600
GRAPHQL_REPEATS = 5

CATALOG_QUERY = """
query Catalog {
  assetNodes { id assetKey { path } groupName isPartitioned description
    partitionDefinition { description } }
}"""
LATEST_INFO_QUERY = """
query Latest($keys: [AssetKeyInput!]!) {
  assetsLatestInfo(assetKeys: $keys) { assetKey { path } latestRun { id status } }
}"""
ASSET_PAGE_QUERY = """
query AssetPage($key: AssetKeyInput!) {
  assetNodeOrError(assetKey: $key) { ... on AssetNode {
    id description
    partitionStats { numMaterialized numPartitions numFailed numMaterializing }
    assetPartitionStatuses { ... on MultiPartitionStatuses { primaryDimensionName
      ranges { primaryDimStartKey primaryDimEndKey } } }
  } }
}"""
PARTITIONS_VIEW_QUERY = """
query PartitionKeys($key: AssetKeyInput!) {
  assetNodeOrError(assetKey: $key) { ... on AssetNode { partitionKeysByDimension { name partitionKeys } } }
}"""
INTRADAY_KEY = {"path": ["activities_heart_intraday"]}


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def hr(env: dict[str, str], *args: str) -> float:
    """Seconds an ``hr`` command takes as a process; its output goes to this one's stderr."""
    log(f"hr {' '.join(args)}")
    seconds, _ = timed(lambda: subprocess.run([str(BIN / "hr"), *args], env=env, check=True, stdout=sys.stderr))
    return seconds


def write_roster(path: Path, users: int, start: date) -> list[str]:
    ids = [f"p{n:03d}" for n in range(1, users + 1)]
    settings = json.dumps({"interval_seconds": INTERVAL_SECONDS})
    with path.open("w", newline="") as roster:
        writer = csv.writer(roster)
        writer.writerow(["id", "timezone", "source", "settings", "start_date", "seed"])
        writer.writerows([uid, ZONES[n % len(ZONES)], "simulated", settings, start, n + 1] for n, uid in enumerate(ids))
    return ids


def memory_mb(pid: int) -> tuple[float, float]:
    """(resident now, peak resident) of a process, from /proc."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def graphql(port: int, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        answer: dict[str, Any] = json.loads(response.read())
    if answer.get("errors"):
        raise RuntimeError(f"GraphQL errors: {answer['errors']}")
    return answer


def measure_ui(env: dict[str, str]) -> dict[str, Any]:
    port = localdb.free_port(3300)
    command = [
        str(BIN / "dagster-webserver"),
        "-w",
        str(PROJECT_ROOT / "workspace.yaml"),
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
    ]
    webserver = subprocess.Popen(
        command, env=env, cwd=env["DAGSTER_HOME"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )

    def answering() -> bool:
        try:
            graphql(port, "{ version }")
            return True
        except OSError:
            return False

    try:
        wait_until(webserver, answering, "the Dagster webserver", 180)
        keys = [{"path": n["assetKey"]["path"]} for n in graphql(port, CATALOG_QUERY)["data"]["assetNodes"]]
        queries = {
            "catalog: assetNodes": (CATALOG_QUERY, None),
            "catalog: assetsLatestInfo": (LATEST_INFO_QUERY, {"keys": keys}),
            "asset page: partition stats and statuses": (ASSET_PAGE_QUERY, {"key": INTRADAY_KEY}),
            "partitions view: partition keys": (PARTITIONS_VIEW_QUERY, {"key": INTRADAY_KEY}),
        }
        figures: dict[str, Any] = {}
        for name, (query, variables) in queries.items():
            seconds = [timed(lambda q=query, v=variables: graphql(port, q, v))[0] for _ in range(GRAPHQL_REPEATS)]
            figures[name] = {"first_s": seconds[0], "median_s": statistics.median(seconds), "max_s": max(seconds)}
        stats = graphql(port, ASSET_PAGE_QUERY, {"key": INTRADAY_KEY})["data"]["assetNodeOrError"]["partitionStats"]
        figures["partition stats"] = stats
        figures["webserver rss_mb, peak_mb"] = memory_mb(webserver.pid)
        return figures
    finally:
        webserver.terminate()
        webserver.wait(timeout=30)


def in_process(env: dict[str, str]) -> dict[str, Any]:
    """Sensor ticks, the nightly and the freshness job, evaluated in this process on the instance."""
    os.environ.update(env)
    from hr_assets.settings import get_settings

    get_settings.cache_clear()
    import dagster as dg

    from hr_assets.backfill import run_ranges
    from hr_assets.definitions import defs
    from hr_assets.defs.heart_rate.partitions import USERS_PARTITION_NAME
    from hr_assets.defs.users.sensors import users_sensor
    from hr_assets.planning import nightly_ranges
    from hr_assets.resources import WarehouseResource
    from hr_assets.warehouse.db import Warehouse
    from hr_assets.warehouse.users import list_users

    figures: dict[str, Any] = {}
    with dg.DagsterInstance.get() as instance:
        resources = {"warehouse": WarehouseResource()}
        with dg.build_sensor_context(instance=instance, resources=resources) as context:
            seconds, first = timed(lambda: users_sensor(context))
        figures["users_sensor first tick"] = {"s": seconds, "history runs requested": len(first.run_requests or [])}
        with dg.build_sensor_context(instance=instance, resources=resources, cursor=first.cursor) as context:
            seconds, steady = timed(lambda: users_sensor(context))
        figures["users_sensor steady tick"] = {"s": seconds, "runs requested": len(steady.run_requests or [])}

        with Warehouse(env["HR_DATABASE_URL"]).connection() as conn:
            registry = list_users(conn)
        order = instance.get_dynamic_partitions(USERS_PARTITION_NAME)
        ranges = nightly_ranges(registry, datetime.now(UTC), order)
        job = defs.resolve_job_def("hr_partition_job")
        seconds, report = timed(lambda: run_ranges(instance, job, ranges, order))
        figures["nightly"] = {
            "s": seconds,
            "runs": len(ranges),
            "partitions landed": report.landed,
            "failed runs": len(report.failed),
        }
        freshness = defs.resolve_job_def("hr_freshness_job")
        seconds, result = timed(lambda: freshness.execute_in_process(instance=instance, raise_on_error=False))
        figures["freshness job"] = {"s": seconds, "success": result.success}
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=300)
    parser.add_argument("--history-days", type=int, default=730, help="how far back each user is registered")
    parser.add_argument("--history-user-days", type=int, default=365, help="one user's history through the CLI")
    parser.add_argument("--database-url", help="admin URL of the server to use (default: throwaway embedded)")
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="hr-bench-scale-", dir=PROJECT_ROOT / ".hr"))
    figures: dict[str, Any] = {"users": args.users, "history_days": args.history_days}
    with server(args.database_url, scratch) as (admin_url, where):
        warehouse_url = recreate_database(admin_url, "bench_scale_hr")
        storage_url = recreate_database(admin_url, "bench_scale_dagster")
        env = {
            **os.environ,
            "HR_HOME": str(scratch / "home"),
            "HR_DATABASE_URL": warehouse_url,
            "HR_DAGSTER_STORAGE_URL": storage_url,
            "DAGSTER_HOME": str(scratch / "home" / "dagster"),
        }
        figures["server"] = where
        try:
            hr(env, "setup", "--no-default-users")
            roster = scratch / "roster.csv"
            today = date.today()
            users = write_roster(roster, args.users, today - timedelta(days=args.history_days))
            figures["registration: hr users import (s)"] = hr(env, "users", "import", str(roster))
            seconds = hr(env, "backfill", "--last-days", "2")
            figures["hr backfill --last-days 2 (s)"] = seconds
            figures["hr backfill --last-days 2 (s per user-day)"] = seconds / (2 * args.users)
            first = today - timedelta(days=args.history_user_days + 3)
            seconds = hr(
                env,
                "backfill",
                "--user",
                users[0],
                "--from",
                str(first),
                "--to",
                str(first + timedelta(days=args.history_user_days - 1)),
            )
            figures["one user's history through the CLI (s per user-day)"] = seconds / args.history_user_days
            dagster_env = {k: v for k, v in env.items() if k.startswith(("HR_", "DAGSTER_"))}
            from hr_assets.instance import instance_env

            dagster_env.update(instance_env(Path(env["DAGSTER_HOME"]), warehouse_url, storage_url))
            log("sensor ticks, the nightly and the freshness job, in this process")
            figures.update(in_process(dagster_env))
            log("the Dagster UI through its GraphQL endpoint")
            figures["ui"] = measure_ui({**env, **dagster_env})
        finally:
            drop_database(admin_url, "bench_scale_hr")
            drop_database(admin_url, "bench_scale_dagster")
    shutil.rmtree(scratch, ignore_errors=True)
    print(json.dumps(figures, indent=2, default=str))


if __name__ == "__main__":
    main()
