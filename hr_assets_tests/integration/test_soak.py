"""A soak: days of unattended operation compressed into HR_SOAK_DURATION (``make soak DURATION=30m``).

Opt-in (marker ``soak``, left out of ``make test``), on TimescaleDB (``HR_TEST_TIMESCALE_URL``). As deployed:
the Dagster daemon (``dagster-daemon run``: the users sensor, the schedules, the run queue; it starts the
code server and the run workers) and the query API (``hr api``), each a process of its own, on 127.0.0.1.
Meanwhile, for the whole duration:

- participants (INITIAL_PARTICIPANTS at once, then one every ARRIVAL_EVERY_S up to PARTICIPANTS), each
  registered HISTORY_DAYS back: their history arrives through the users sensor throughout;
- the nightly load driven as often as the machine allows, forced (``hr backfill --last-days 2 --force``):
  every participant's latest days re-loaded, the re-load path of corrected data;
- corrections: CORRECTED participants' data changes under them, one after another through the first
  CORRECTIONS_UNTIL of the run (a new seed: every reading of every day differs), so the forced nightly's
  re-loads replace each reading of their latest days (days still in the rowstore: re-loads into converted
  chunks are the fault tests' subject, test_timescale_faults.py);
- the columnstore policy every minute instead of twice a day: the history days past its 7 days convert
  as they land (the clock's days compressed);
- the API under steady traffic from a bounded loop on loopback (one request at a time).

Sampled every SAMPLE_EVERY_S: resident memory of the daemon, the code servers, the run workers and the API;
the database's size and the columnstore ratio; the API's latency percentiles per window. It fails on a failed
run, on a reading lost or duplicated at the end (each loaded day's readings, time and bpm, against the
simulator's own for it: wholly the first version or, for a corrected participant, wholly the corrected one,
which the newest day must have), and on memory whose peak in the last third of the run exceeds the middle
third's by more than MEMORY_GROWTH_TOLERANCE (growth that does not level off). The figures go to
HR_SOAK_REPORT (JSON) and the terminal.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import shlex
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest
from psycopg import sql

from hr_assets.domain.transform import parse_intraday
from hr_assets.domain.user_day import latest_complete_day
from hr_assets.local import localdb
from hr_assets.settings import PROJECT_ROOT
from hr_assets.sources import SOURCES
from hr_assets.warehouse.db import Warehouse, connect
from hr_assets.warehouse.maintenance import storage
from hr_assets.warehouse.user_day import local_day_window
from hr_assets.warehouse.users import UserProfile, users_by_id
from hr_assets_tests.integration.warehouse_checks import assert_self_consistent

pytestmark = pytest.mark.soak

SERVER_URL = os.environ.get("HR_TEST_TIMESCALE_URL", "")
BIN = Path(sys.executable).parent
DURATION = os.environ.get("HR_SOAK_DURATION", "")
REPORT = Path(os.environ.get("HR_SOAK_REPORT", "soak-report.json"))
PARTICIPANTS = 50
INITIAL_PARTICIPANTS = 40
HISTORY_DAYS = 10  # past the columnstore policy's 7 days, so that history days convert
# A power-saving watch (a reading every 10 minutes, as bench/scale.py): the figures are the pipeline's and the
# warehouse's, not the simulator's.
INTERVAL_SECONDS = 600
ZONES = ("America/Los_Angeles", "America/New_York", "Europe/London", "Europe/Berlin", "Asia/Kolkata", "Asia/Tokyo")
SAMPLE_EVERY_S = 15
LATENCY_WINDOW_S = 300  # latency percentiles per five minutes
REQUEST_PAUSE_S = 0.2  # the API loop's pause between requests: steady traffic, not a load test
# Peak memory in the last third of the run over the middle third's, beyond which growth has not levelled off.
MEMORY_GROWTH_TOLERANCE = 1.15
# After the duration, the runs already queued get this long to finish before the daemon is stopped.
DRAIN_S = 300
FINAL_CHECKS_S = 1800  # setup, registration and the readings checked day by day against the simulator
CORRECTED = 10  # participants p001..p010, whose data is corrected during the run
CORRECTED_SEED_OFFSET = 1000  # a corrected participant's new seed: its first seed plus this
CORRECTIONS_UNTIL = 0.8  # the share of the run through which corrections arrive; the nightly then re-loads
# The columnstore policy's job: its runs, successes and failures (none before its first run).
COLUMNSTORE_POLICY_RUNS = """
SELECT coalesce(s.total_runs, 0), coalesce(s.total_successes, 0), coalesce(s.total_failures, 0)
FROM timescaledb_information.jobs j LEFT JOIN timescaledb_information.job_stats s USING (job_id)
WHERE j.proc_name = 'policy_compression' AND j.hypertable_name = 'activities_heart_intraday'
"""


def _seconds(duration: str) -> int:
    match = re.fullmatch(r"(\d+)([smh]?)", duration.strip())
    if not match:
        raise pytest.UsageError(f"HR_SOAK_DURATION={duration!r}: a number of seconds, or 30m, 2h")
    return int(match[1]) * {"": 1, "s": 1, "m": 60, "h": 3600}[match[2]]


def _process_tree(pid: int) -> list[int]:
    tree, index = [pid], 0
    while index < len(tree):
        for task in Path(f"/proc/{tree[index]}/task").glob("*"):
            with contextlib.suppress(OSError):
                tree.extend(int(child) for child in (task / "children").read_text().split())
        index += 1
    return tree


def _resident_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _role(pid: int, daemon_pid: int) -> str | None:
    line = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    if pid == daemon_pid:
        return "daemon"
    if "api grpc" in line:
        return "code servers"
    if "spawn_main" in line or "execute_run" in line or "api execute_run" in line:
        return "run workers"
    return None


@dataclass
class Soak:
    env: dict[str, str]
    warehouse_url: str
    started: float = field(default_factory=time.monotonic)
    samples: list[dict[str, Any]] = field(default_factory=list)
    latencies: list[tuple[float, str, float, int]] = field(default_factory=list)  # (t, path, ms, status)
    backfills: list[tuple[float, int]] = field(default_factory=list)  # (seconds, return code)
    corrected: dict[str, int] = field(default_factory=dict)  # participant -> its seed before the correction
    errors: list[str] = field(default_factory=list)  # what the background threads' commands refused
    stop: threading.Event = field(default_factory=threading.Event)

    def hr(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(BIN / "hr"), *args], env=self.env, capture_output=True, text=True, check=False)

    def elapsed(self) -> float:
        return time.monotonic() - self.started


@contextlib.contextmanager
def _databases() -> Iterator[tuple[str, str]]:
    names = [f"hr_soak_{uuid.uuid4().hex[:8]}", f"hr_soak_dagster_{uuid.uuid4().hex[:8]}"]
    with psycopg.connect(SERVER_URL, autocommit=True) as conn:
        for name in names:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        # URLs, not key=value strings: Dagster's storage reads the URL.
        yield tuple(urlsplit(SERVER_URL)._replace(path=f"/{name}").geturl() for name in names)  # type: ignore[misc]
    finally:
        with psycopg.connect(SERVER_URL, autocommit=True) as conn:
            for name in names:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _environment(home: Path, warehouse_url: str, storage_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HR_", "DAGSTER_"))}
    env |= {"HR_HOME": str(home), "HR_DATABASE_URL": warehouse_url, "HR_DAGSTER_STORAGE_URL": storage_url}
    exported = subprocess.run([str(BIN / "hr"), "env"], env=env, capture_output=True, text=True, check=True).stdout
    for line in exported.splitlines():
        key, _, value = line.removeprefix("export ").partition("=")
        env[key] = shlex.split(value)[0] if value else ""
    return env


def _participant(soak: Soak, n: int, first_day: str) -> None:
    uid = f"p{n:03d}"
    done = soak.hr(
        "users", "add", uid, "--timezone", ZONES[n % len(ZONES)], "--start-date", first_day,
        "--config", f"interval_seconds={INTERVAL_SECONDS}", "--seed", str(n),
    )  # fmt: skip
    if done.returncode != 0:
        soak.errors.append(f"hr users add {uid}: {done.stdout}{done.stderr}")


def _corrections(soak: Soak, every_s: float) -> None:
    for n in range(1, CORRECTED + 1):
        if soak.stop.wait(every_s):
            return
        uid = f"p{n:03d}"
        done = soak.hr("users", "update", uid, "--seed", str(n + CORRECTED_SEED_OFFSET))
        if done.returncode != 0:
            soak.errors.append(f"hr users update {uid}: {done.stdout}{done.stderr}")
        else:
            soak.corrected[uid] = n


def _arrivals(soak: Soak, first_day: str, every_s: float) -> None:
    for n in range(INITIAL_PARTICIPANTS + 1, PARTICIPANTS + 1):
        if soak.stop.wait(every_s):
            return
        _participant(soak, n, first_day)


def _nightly(soak: Soak) -> None:
    while not soak.stop.is_set():
        started = time.monotonic()
        done = soak.hr("backfill", "--last-days", "2", "--force")
        soak.backfills.append((time.monotonic() - started, done.returncode))


def _traffic(soak: Soak, api_url: str) -> None:
    rng = random.Random(1)
    with httpx.Client(base_url=api_url, timeout=60) as client:
        while not soak.stop.is_set():
            users = [f"p{n:03d}" for n in rng.sample(range(1, INITIAL_PARTICIPANTS + 1), 5)]
            end = datetime.now(UTC).date()
            window = {"start_date": (end - timedelta(days=HISTORY_DAYS)).isoformat(), "end_date": end.isoformat()}
            for path, params in (
                ("/timeseries", {"user_id": users[0], **window}),
                ("/multi-user/timeseries", {"user_ids": ",".join(users), **window}),
                ("/summary", {"user_id": users[1], **window}),
            ):
                started = time.perf_counter()
                status = client.get(path, params=params).status_code
                soak.latencies.append((soak.elapsed(), path, (time.perf_counter() - started) * 1000, status))
                soak.stop.wait(REQUEST_PAUSE_S)


def _sample(soak: Soak, daemon_pid: int, api_pid: int) -> None:
    resident: dict[str, float] = {"daemon": 0.0, "code servers": 0.0, "run workers": 0.0, "api": 0.0}
    for pid in _process_tree(daemon_pid):
        with contextlib.suppress(OSError):
            role = _role(pid, daemon_pid)
            if role:
                resident[role] += _resident_mb(pid)
    with contextlib.suppress(OSError):
        resident["api"] = sum(_resident_mb(pid) for pid in _process_tree(api_pid))
    warehouse = Warehouse(soak.warehouse_url)
    raw = storage(warehouse)[0]
    with connect(soak.warehouse_url, autocommit=True) as conn:
        size = conn.execute("SELECT pg_database_size(current_database())").fetchone()
        days = conn.execute("SELECT count(*) FROM partition_loads WHERE payload = 'intraday'").fetchone()
    soak.samples.append(
        {
            "t": round(soak.elapsed()),
            "memory_mb": {k: round(v, 1) for k, v in resident.items()},
            "db_mb": round(int(size[0]) / 2**20, 1) if size else None,
            "participant_days": int(days[0]) if days else 0,
            "columnstore_chunks": raw.columnstore_chunks,
            "chunks": raw.chunks,
            "columnstore_ratio": float(raw.compression_ratio) if raw.compression_ratio else None,
        }
    )


def _percentiles(latencies: list[float]) -> dict[str, float]:
    if len(latencies) < 2:
        return {}
    cuts = statistics.quantiles(latencies, n=100)
    return {"p50_ms": round(cuts[49], 1), "p99_ms": round(cuts[98], 1), "requests": len(latencies)}


@dataclass(frozen=True)
class DayCheck:
    """A loaded day's readings against the simulator's versions of it."""

    user_id: str
    day: date
    stored: int  # readings stored in the day's window
    version: str | None  # "first" or "corrected", whichever the stored readings wholly equal; None: neither


def _simulated(profile: UserProfile, day: date) -> list[tuple[datetime, int]]:
    payloads = SOURCES[profile.source].fetch_day(profile, day, only="intraday")
    parsed = parse_intraday(payloads.intraday, user_id=profile.user_id, day=day, timezone=profile.timezone)
    return list(zip(parsed.readings["time"].to_list(), parsed.readings["bpm"].to_list(), strict=True))


def _check_days(warehouse_url: str, corrected: dict[str, int]) -> list[DayCheck]:
    """Every loaded day's stored (time, bpm) against the simulator's: the version it wholly equals, if any.

    ``corrected`` maps a corrected participant to its seed before the correction (its first version)."""
    with connect(warehouse_url, autocommit=True) as conn:
        loaded = conn.execute("SELECT user_id, date FROM partition_loads WHERE payload = 'intraday' ORDER BY 1, 2")
        days = loaded.fetchall()
        users = users_by_id(conn, sorted({u for u, _ in days}))
        checks = []
        for user_id, day in days:
            now = users[user_id].profile()
            versions = {"corrected" if user_id in corrected else "first": now}
            if user_id in corrected:
                versions["first"] = replace(now, seed=corrected[user_id])
            start, end = local_day_window(day, now.timezone)
            stored = conn.execute(
                "SELECT time, bpm FROM activities_heart_intraday WHERE user_id = %s AND time >= %s AND time < %s"
                " ORDER BY time",
                (user_id, start, end),
            ).fetchall()
            stored = [(t, int(bpm)) for t, bpm in stored]
            found = next((name for name, profile in versions.items() if _simulated(profile, day) == stored), None)
            checks.append(DayCheck(user_id, day, len(stored), found))
    return checks


def _third_peaks(series: list[float]) -> tuple[float, float]:
    """The highest sample of the middle third and of the last third of the run.

    Peaks, not medians: the daemon replaces its code server now and then, the old and the new alive together
    for a moment, so the samples jump between two levels (one server, two) and a median moves with the mix;
    a leak raises the peaks."""
    third = len(series) // 3
    return max(series[third : 2 * third]), max(series[2 * third :])


@pytest.mark.timeout(_seconds(DURATION or "0") + DRAIN_S + FINAL_CHECKS_S)
@pytest.mark.skipif(
    not DURATION, reason="HR_SOAK_DURATION is not set: the soak runs when asked (make soak DURATION=30m)"
)
@pytest.mark.skipif(not SERVER_URL, reason="HR_TEST_TIMESCALE_URL is not set: the soak runs on TimescaleDB")
def test_soak(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import dagster as dg

    duration = _seconds(DURATION)
    with _databases() as (warehouse_url, storage_url):
        env = _environment(tmp_path / "hr", warehouse_url, storage_url)
        soak = Soak(env, warehouse_url)
        for key, value in env.items():
            if key.startswith(("HR_", "DAGSTER_")):
                monkeypatch.setenv(key, value)  # this process reads the instance's runs at the end
        assert soak.hr("setup", "--no-default-users").returncode == 0
        with connect(warehouse_url, autocommit=True) as conn:
            # The clock's days compressed: the columnstore policy every minute instead of twice a day.
            conn.execute(
                "SELECT alter_job(job_id, schedule_interval => interval '1 minute') FROM timescaledb_information.jobs"
                " WHERE proc_name = 'policy_compression'"
            )
        first_day = (latest_complete_day("UTC", datetime.now(UTC)) - timedelta(days=HISTORY_DAYS - 1)).isoformat()
        roster = tmp_path / "roster.csv"
        settings = f'"{{""interval_seconds"": {INTERVAL_SECONDS}}}"'  # JSON in a CSV field
        rows = [
            f"p{n:03d},{ZONES[n % len(ZONES)]},simulated,{settings},{first_day},{n}"
            for n in range(1, INITIAL_PARTICIPANTS + 1)
        ]
        roster.write_text("\n".join(["id,timezone,source,settings,start_date,seed", *rows]) + "\n")
        imported = soak.hr("users", "import", str(roster))
        assert imported.returncode == 0, imported.stdout + imported.stderr
        workspace = str(PROJECT_ROOT / "workspace.yaml")
        subprocess.run(
            [str(BIN / "dagster"), "sensor", "start", "users_sensor", "-w", workspace],
            env=env, cwd=env["DAGSTER_HOME"], check=True, capture_output=True,
        )  # fmt: skip
        log = (tmp_path / "daemon.log").open("w")
        daemon = subprocess.Popen(
            [str(BIN / "dagster-daemon"), "run", "-w", workspace], env=env, cwd=env["DAGSTER_HOME"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        port = localdb.free_port()
        api = subprocess.Popen(
            [str(BIN / "hr"), "api", "--port", str(port)], env={**env, "HR_API_AUTH": "off"},
            stdout=(tmp_path / "api.log").open("w"), stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        api_url = f"http://127.0.0.1:{port}"
        threads: list[threading.Thread] = []
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{api_url}/health", timeout=5).status_code == 200:
                        break
                time.sleep(1)
            soak.started = time.monotonic()
            every_s = duration / (PARTICIPANTS - INITIAL_PARTICIPANTS + 1)
            for work in (
                lambda: _arrivals(soak, first_day, every_s),
                lambda: _corrections(soak, duration * CORRECTIONS_UNTIL / CORRECTED),
                lambda: _nightly(soak),
                lambda: _traffic(soak, api_url),
            ):
                threads.append(threading.Thread(target=work, daemon=True))
                threads[-1].start()
            while soak.elapsed() < duration:
                _sample(soak, daemon.pid, api.pid)
                assert daemon.poll() is None and api.poll() is None, "the daemon or the API stopped"
                time.sleep(SAMPLE_EVERY_S)
            soak.stop.set()
            for thread in threads:
                thread.join(timeout=DRAIN_S)
            with dg.DagsterInstance.get() as instance:
                drain = time.monotonic() + DRAIN_S
                while time.monotonic() < drain and instance.get_runs(
                    dg.RunsFilter(
                        statuses=[dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING]
                    )
                ):
                    time.sleep(5)
                runs = instance.get_runs()
                failed = [r.run_id for r in runs if r.status == dg.DagsterRunStatus.FAILURE]
                unfinished = [r.run_id for r in runs if not r.is_finished]
            _sample(soak, daemon.pid, api.pid)
        finally:
            soak.stop.set()
            for process in (daemon, api):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=60)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)

        days = _check_days(warehouse_url, soak.corrected)
        lost = [check for check in days if check.version is None]
        newest = {check.user_id: check for check in days}  # ordered by day: each participant's newest
        uncorrected = [newest[uid] for uid in soak.corrected if newest[uid].version != "corrected"]
        with connect(warehouse_url, autocommit=True) as conn:
            total, distinct = conn.execute(
                "SELECT count(*), count(DISTINCT (user_id, time)) FROM activities_heart_intraday"
            ).fetchone() or (0, 0)
            policy = conn.execute(COLUMNSTORE_POLICY_RUNS).fetchone() or (0, 0, 0)
        first_window = [ms for t, _, ms, _ in soak.latencies if t < LATENCY_WINDOW_S]
        last_window = [ms for t, _, ms, _ in soak.latencies if t >= soak.latencies[-1][0] - LATENCY_WINDOW_S]
        memory = {role: [s["memory_mb"][role] for s in soak.samples] for role in soak.samples[0]["memory_mb"]}
        report = {
            "duration_s": duration,
            "participants": PARTICIPANTS,
            "participant_days": soak.samples[-1]["participant_days"],
            "runs": len(runs),
            "failed_runs": len(failed),
            "unfinished_runs": len(unfinished),
            "forced_nightly_backfills": len(soak.backfills),
            "failed_backfills": sum(1 for _, rc in soak.backfills if rc != 0),
            "readings": total,
            "days_checked": len(days),
            "readings_lost_or_extra_days": len(lost),
            "corrected_participants": len(soak.corrected),
            "corrected_days_reloaded": sum(1 for check in days if check.version == "corrected"),
            "readings_duplicated": total - distinct,
            "memory_mb_start_end": {role: (series[0], series[-1], max(series)) for role, series in memory.items()},
            "latency_first_5_min": _percentiles(first_window),
            "latency_last_5_min": _percentiles(last_window),
            "api_errors": sum(1 for *_, status in soak.latencies if status >= 500),
            "db_mb_start_end": (soak.samples[0]["db_mb"], soak.samples[-1]["db_mb"]),
            "columnstore": {k: soak.samples[-1][k] for k in ("columnstore_chunks", "chunks", "columnstore_ratio")},
            "columnstore_policy_runs": dict(zip(("runs", "successes", "failures"), policy, strict=True)),
            "samples": soak.samples,
        }
        REPORT.write_text(json.dumps(report, indent=1, default=str))
        print(json.dumps({k: v for k, v in report.items() if k != "samples"}, indent=1, default=str))

        assert failed == [], f"failed runs: {failed} (daemon log: {tmp_path / 'daemon.log'})"
        assert soak.errors == []
        assert len(soak.corrected) == CORRECTED, "not every correction was made within the run"
        assert uncorrected == [], f"a correction never reached the newest day: {uncorrected}"
        assert report["failed_backfills"] == 0
        assert lost == [] and total == distinct, f"lost or duplicated readings: {lost[:10]}"
        assert report["api_errors"] == 0
        for role in ("daemon", "code servers", "api"):
            middle, last = _third_peaks(memory[role])
            assert last <= middle * MEMORY_GROWTH_TOLERANCE, f"{role} memory still growing: {middle} MB -> {last} MB"
        # History days are past the policy's 7 days: a policy that converted none of them never ran, which is a
        # production failure (and the soak would not have measured a warehouse with a columnstore).
        assert report["columnstore"]["columnstore_chunks"], (
            f"the columnstore policy converted no chunk (its runs: {report['columnstore_policy_runs']}): a server"
            " short of background workers starts no TimescaleDB scheduler for a database, so its jobs never run"
            " (max_worker_processes, timescaledb.max_background_workers; docs/timescaledb.md)"
        )
        assert report["columnstore_policy_runs"]["failures"] == 0
        assert_self_consistent(warehouse_url)
