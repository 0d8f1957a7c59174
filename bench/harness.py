"""What every benchmark here shares: the server it runs on, throwaway databases, the machine's description.

Benchmarks are scripts (``python bench/NAME.py``); this module sits next to them on their path.
"""

from __future__ import annotations

import contextlib
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from hr_assets.local import localdb
from hr_assets.warehouse.db import Mode, connect, detect_mode
from hr_assets.warehouse.migrations import migrate


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# --- server and databases ---------------------------------------------------------------------


def database_url(admin_url: str, name: str) -> str:
    """``admin_url`` pointing at database ``name`` (URL or key=value form)."""
    if "://" in admin_url:
        return urlunsplit(urlsplit(admin_url)._replace(path=f"/{name}"))
    return psycopg.conninfo.make_conninfo(admin_url, dbname=name)


def recreate_database(admin_url: str, name: str) -> str:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return database_url(admin_url, name)


def drop_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@contextlib.contextmanager
def server(explicit_url: str | None, scratch: Path) -> Iterator[tuple[str, str]]:
    """(admin URL, description): the given server, else a throwaway embedded one."""
    if explicit_url:
        yield explicit_url, "server from --database-url"
        return
    root = scratch / "postgres"
    log(f"starting a throwaway embedded PostgreSQL in {root}")
    local = localdb.ensure_running(root)
    try:
        yield local.url(), "throwaway embedded server"
    finally:
        localdb.stop(root)


@dataclass(frozen=True)
class BenchDatabase:
    url: str
    where: str  # which server
    mode: Mode
    machine: str


@contextlib.contextmanager
def migrated_database(explicit_url: str | None, scratch: Path, name: str) -> Iterator[BenchDatabase]:
    """A new, migrated database ``name`` on --database-url's server or a throwaway one; dropped after."""
    with server(explicit_url, scratch) as (admin_url, where):
        url = recreate_database(admin_url, name)
        try:
            migrate(url)
            with connect(url) as conn:
                mode = detect_mode(conn)
                yield BenchDatabase(url, where, mode, machine(conn, mode))
        finally:
            drop_database(admin_url, name)


def machine(conn: psycopg.Connection, mode: Mode) -> str:
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    row = conn.execute("SHOW server_version").fetchone()
    version = f"PostgreSQL {row[0] if row else '?'}"
    if mode is Mode.TIMESCALEDB:
        ext = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'").fetchone()
        version += f", TimescaleDB {ext[0] if ext else '?'}"
    return f"{os.cpu_count()} cores, {model}, {platform.python_implementation()} {platform.python_version()}; {version}"


def peak_rss_mb() -> float:
    """Peak resident memory of this process since it started or since the last ``reset_peak_rss``."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # no /proc: the lifetime peak, in KiB


def reset_peak_rss() -> None:
    """Start the peak of ``peak_rss_mb`` from the memory resident now (Linux: /proc/self/clear_refs, value 5)."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def wait_until(process: subprocess.Popen[bytes], ready: Callable[[], bool], what: str, seconds: float) -> None:
    """Poll ``ready`` until it is true; ``SystemExit`` naming ``what`` if ``process`` ends or time runs out."""
    deadline = time.monotonic() + seconds
    while not ready():
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"{what} did not start")
        time.sleep(0.3)
