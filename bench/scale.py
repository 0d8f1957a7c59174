"""A study of hundreds of participants: registration, loads, sensor ticks and the Dagster UI at scale.

    python bench/scale.py [--users 300] [--history-days 730] [--database-url URL]

Builds the case on the server it is given (a throwaway embedded PostgreSQL by default;
``--database-url`` for TimescaleDB): ``--users`` participants from a roster, each registered
``--history-days`` back, on a power-saving simulated watch (one reading per 10 minutes, so that a
day is cheap and the figures are Dagster's and the warehouse's, not the simulator's). Then it
measures, each the way a user meets it:

- registration: ``hr users import`` of the roster (one process, partitions synced once);
- ``hr backfill --last-days 2`` for every user (a process, as typed);
- one user's year of history through the CLI (``hr backfill --user``), seconds per user-day: a twin
  of the daemon's newcomer below (same zone, seed, watch and dates), so the two load the same days;
- the ``users_sensor`` tick: the first and the second (every user's history due, a ration a tick);
- the nightly load: the schedule's ranges run one after the other, and its wall time;
- the freshness job (the ``latest_day_loaded`` check over every user);
- the Dagster UI: the webserver's GraphQL queries of the catalog and the asset page's
  partitions view, and the webserver's memory;
- the daemon (``dagster-daemon run``, as deployed): a new participant registered with a year of
  history while it runs, the time from ``hr users add`` to the last of that user's history runs
  against its twin's year through the CLI (the same payloads, the same dates), the sensor ticks it
  made meanwhile, and the peak memory of the daemon and of the code server it starts.

Everything runs on 127.0.0.1; the databases are dropped afterwards.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import shutil
import signal
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

from hr_assets.local import localdb
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


# The daemon's newcomer and its twin loaded through the CLI: one profile, so both load the same payloads.
NEWCOMER_ZONE = "Europe/Berlin"
NEWCOMER_SEED = 7


def register_like_newcomer(env: dict[str, str], user_id: str, first: date) -> float:
    """Register ``user_id`` with the newcomer's profile from ``first``; the seconds ``hr users add`` took."""
    return hr(
        env,
        "users",
        "add",
        user_id,
        "--timezone",
        NEWCOMER_ZONE,
        "--start-date",
        str(first),
        "--config",
        f"interval_seconds={INTERVAL_SECONDS}",
        "--seed",
        str(NEWCOMER_SEED),
    )


def newcomer_range(days: int) -> tuple[date, date]:
    """The newcomer's history: its last ``days`` complete local days."""
    from hr_assets.domain.user_day import latest_complete_day

    last = latest_complete_day(NEWCOMER_ZONE, datetime.now(UTC))
    return last - timedelta(days=days - 1), last


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

    from hr_assets.definitions import defs
    from hr_assets.defs.heart_rate.partitions import USERS_PARTITION_NAME
    from hr_assets.defs.users.sensors import users_sensor
    from hr_assets.domain.planning import history_due, nightly_ranges
    from hr_assets.local.backfill import run_ranges
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
        # Every user's history is due, so the second tick asks for the next ration of it.
        figures["users_sensor second tick"] = {"s": seconds, "history runs requested": len(steady.run_requests or [])}

        with Warehouse(env["HR_DATABASE_URL"]).connection() as conn:
            registry = list_users(conn)
        # The daemon phase starts from a cursor with every user's history asked for already.
        figures["users_sensor cursor"] = json.dumps(history_due(registry, {}, datetime.now(UTC))[1], sort_keys=True)
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
        log("recording every user's history as materialised, for the UI")
        seconds, recorded = timed(lambda: record_history(instance, registry, datetime.now(UTC)))
        figures["history recorded for the UI"] = {"s": seconds, "materialisations": recorded}
    return figures


RECORD_BATCH = 2_000


def record_history(instance: Any, registry: list[Any], now: datetime) -> int:
    """Every user's days from its start date to its latest complete day, recorded as materialised.

    Loading two years of 300 participants through the pipeline would take hours here; the UI reads
    only Dagster's records, so these are written as a bulk import would write them: runless
    materialisation events of the two loaded assets (not their aggregates), through the event
    log's batch write, 2,000 a statement.
    """
    import logging

    import dagster as dg
    from dagster._core.definitions.partitions.utils.multi import get_tags_from_multi_partition_key
    from dagster._core.events import DagsterEvent, DagsterEventType, StepMaterializationData
    from dagster._core.events.log import EventLogEntry
    from dagster._core.instance.utils import RUNLESS_JOB_NAME, RUNLESS_RUN_ID

    from hr_assets.domain.user_day import latest_complete_day

    keys = [
        dg.MultiPartitionKey({"dates": str(user.start_date + timedelta(days=n)), "users": user.id})
        for user in registry
        for n in range((latest_complete_day(user.timezone, now) - user.start_date).days + 1)
    ]
    recorded = 0
    for asset in ("activities_heart_intraday", "activities_heart_summary"):
        for first in range(0, len(keys), RECORD_BATCH):
            events = [
                EventLogEntry(
                    error_info=None,
                    level=logging.DEBUG,
                    user_message="",
                    run_id=RUNLESS_RUN_ID,
                    timestamp=time.time(),
                    dagster_event=DagsterEvent(
                        event_type_value=DagsterEventType.ASSET_MATERIALIZATION.value,
                        job_name=RUNLESS_JOB_NAME,
                        event_specific_data=StepMaterializationData(
                            dg.AssetMaterialization(asset, partition=key, tags=get_tags_from_multi_partition_key(key))
                        ),
                    ),
                )
                for key in keys[first : first + RECORD_BATCH]
            ]
            instance.event_log_storage.store_event_batch(events)
            recorded += len(events)
    return recorded


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants, from /proc."""
    tree, index = [pid], 0
    while index < len(tree):
        for task in Path(f"/proc/{tree[index]}/task").glob("*"):
            with contextlib.suppress(OSError):
                tree.extend(int(child) for child in (task / "children").read_text().split())
        index += 1
    return tree


def command_line(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")


class DaemonMemory:
    """Peak resident memory, sampled while the daemon runs: the daemon with its code servers
    together, and the largest run worker (a process of its own, started by a code server)."""

    def __init__(self, daemon_pid: int) -> None:
        self.daemon_pid = daemon_pid
        self.peaks: dict[str, float] = {"daemon and code servers": 0.0, "run worker": 0.0}

    def sample(self) -> None:
        resident = 0.0
        for pid in process_tree(self.daemon_pid):
            with contextlib.suppress(OSError, KeyError):
                line = command_line(pid)
                if pid == self.daemon_pid or "api grpc" in line:
                    resident += memory_mb(pid)[0]
                elif "spawn_main" in line or "execute_run" in line:
                    self.peaks["run worker"] = max(self.peaks["run worker"], memory_mb(pid)[1])
        self.peaks["daemon and code servers"] = max(self.peaks["daemon and code servers"], resident)


def sensor_tick_seconds(instance: Any, name: str, after: float) -> list[float]:
    """Durations of ``name``'s finished ticks since ``after`` (a timestamp), from the instance."""
    for state in instance.all_instigator_state():
        if state.instigator_name == name:
            ticks = instance.get_ticks(state.instigator_origin_id, state.selector_id, after=after)
            return sorted(t.end_timestamp - t.timestamp for t in ticks if t.end_timestamp)
    return []


def measure_daemon(env: dict[str, str], cursor: str, history_days: int) -> dict[str, Any]:
    """A new participant's year of history through the daemon's queue, while it runs for everyone."""
    import dagster as dg

    from hr_assets.defs.common import HISTORY_USER_TAG
    from hr_assets.warehouse.db import Warehouse
    from hr_assets.warehouse.status import loaded_days

    workspace = str(PROJECT_ROOT / "workspace.yaml")
    dagster = str(BIN / "dagster")
    for command in (["cursor", "users_sensor", "--set", cursor], ["start", "users_sensor"]):
        subprocess.run(
            [dagster, "sensor", *command, "-w", workspace],
            env=env,
            cwd=env["DAGSTER_HOME"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    log("dagster-daemon run")
    launched = time.time()
    daemon = subprocess.Popen(
        [str(BIN / "dagster-daemon"), "run", "-w", workspace],
        env=env,
        cwd=env["DAGSTER_HOME"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    memory = DaemonMemory(daemon.pid)
    newcomer = "newcomer"
    first, last = newcomer_range(history_days)
    figures: dict[str, Any] = {}
    try:
        with dg.DagsterInstance.get() as instance:
            # The daemon is up once the users sensor has ticked with the cursor above.
            wait_until(daemon, lambda: bool(sensor_tick_seconds(instance, "users_sensor", launched)), "the daemon", 300)
            started = time.time()
            register_like_newcomer(env, newcomer, first)
            runs_filter = dg.RunsFilter(tags={HISTORY_USER_TAG: newcomer})
            deadline = time.monotonic() + 3600
            landed: set[date] = set()
            # Done when every day has landed and the runs asked for so far have ended (a history
            # longer than a tick's ration comes in more runs on later ticks), or one failed.
            # One connection for the polling (autocommit: each look sees what has landed since).
            with Warehouse(env["HR_DATABASE_URL"]).connection(autocommit=True) as conn:
                while time.monotonic() < deadline and daemon.poll() is None:
                    memory.sample()
                    records = instance.get_run_records(runs_filter)
                    landed = loaded_days(conn, [newcomer], first, last)[newcomer]
                    finished = bool(records) and all(r.dagster_run.is_finished for r in records)
                    if finished and (len(landed) == history_days or any(r.dagster_run.is_failure for r in records)):
                        break
                    time.sleep(1)
            records = instance.get_run_records(runs_filter)
            ended = max((r.end_time or time.time()) for r in records) if records else time.time()
            ticks = sensor_tick_seconds(instance, "users_sensor", started)
            figures = {
                "new user's history (s)": ended - started,
                "days landed": len(landed),
                "history runs": len(records),
                "failed runs": sum(r.dagster_run.status != dg.DagsterRunStatus.SUCCESS for r in records),
                "users_sensor ticks meanwhile (count, median s, max s)": (
                    len(ticks),
                    statistics.median(ticks) if ticks else None,
                    max(ticks, default=None),
                ),
                "peak memory (MB)": memory.peaks,
            }
    finally:
        # Run workers still going (a run past the deadline) end too, before the databases go.
        leftovers = process_tree(daemon.pid)[1:]
        daemon.terminate()
        daemon.wait(timeout=60)
        for pid in leftovers:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
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
            write_roster(roster, args.users, today - timedelta(days=args.history_days))
            figures["registration: hr users import (s)"] = hr(env, "users", "import", str(roster))
            seconds = hr(env, "backfill", "--last-days", "2")
            figures["hr backfill --last-days 2 (s)"] = seconds
            figures["hr backfill --last-days 2 (s per user-day)"] = seconds / (2 * args.users)
            dagster_env = {k: v for k, v in env.items() if k.startswith(("HR_", "DAGSTER_"))}
            from hr_assets.local.instance import instance_env

            dagster_env.update(instance_env(Path(env["DAGSTER_HOME"]), warehouse_url, storage_url))
            log("sensor ticks, the nightly and the freshness job, in this process")
            figures.update(in_process(dagster_env))
            log("the Dagster UI through its GraphQL endpoint")
            figures["ui"] = measure_ui({**env, **dagster_env})
            # The newcomer's twin: registered only now, so the figures above are the roster's alone.
            first, last = newcomer_range(args.history_user_days)
            register_like_newcomer(env, "twin", first)
            cli_history_s = hr(env, "backfill", "--user", "twin", "--from", str(first), "--to", str(last))
            figures["one user's history through the CLI (s per user-day)"] = cli_history_s / args.history_user_days
            log("a new participant's history through the daemon")
            daemon = measure_daemon({**env, **dagster_env}, figures.pop("users_sensor cursor"), args.history_user_days)
            daemon["against the CLI (x)"] = daemon["new user's history (s)"] / cli_history_s
            figures["daemon"] = daemon
        finally:
            drop_database(admin_url, "bench_scale_hr")
            drop_database(admin_url, "bench_scale_dagster")
    shutil.rmtree(scratch, ignore_errors=True)
    print(json.dumps(figures, indent=2, default=str))


if __name__ == "__main__":
    main()
