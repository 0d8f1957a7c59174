"""A throwaway TimescaleDB server of a test's own, which the test may kill, restart or starve of disk.

The server named by ``HR_TEST_TIMESCALE_URL`` is shared by every TimescaleDB test and is never broken:
a test that kills a server starts its own from the same PostgreSQL binaries (the ones whose library folder
holds ``timescaledb.so``, of the shared server's major version), in a folder under the test's ``tmp_path``,
on a free loopback port, with ``shared_preload_libraries = 'timescaledb'``. Where those binaries cannot be
found (the shared server on another machine) or run (root without the ``postgres`` account), the test is
skipped, saying why.

Started by root, the server runs as ``postgres`` and its data lives in a new folder of the system's temporary
folder, removed afterwards: pytest's ``tmp_path`` is closed to other accounts, and every pytest session
that starts meanwhile closes its parent again.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from hr_assets.local import localdb
from hr_assets_tests.integration.test_faults import _alive, _wait

SERVER_URL = os.environ.get("HR_TEST_TIMESCALE_URL", "")
# Where PostgreSQL's binaries live besides pg_config's answer: Debian's and the source build's defaults.
BINARY_FOLDERS = ("/usr/lib/postgresql/{major}/bin", "/usr/local/pgsql/bin")
# The account a server started by root runs as (PostgreSQL refuses root): the packages' own.
SERVER_ACCOUNT = "postgres"
# A wait for the server to start: generous, as the machine may be busy.
WAIT_S = 120
SETTINGS = """
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = ''
shared_preload_libraries = 'timescaledb'
timescaledb.telemetry_level = off
max_connections = 60
shared_buffers = 64MB
"""


def _server_major(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT current_setting('server_version_num')::int / 10000").fetchone()
    assert row is not None
    return int(row[0])


def _pkglibdir(bindir: Path) -> Path | None:
    pg_config = bindir / "pg_config"
    if not pg_config.exists():
        return None
    done = subprocess.run([str(pg_config), "--pkglibdir"], capture_output=True, text=True, check=False)
    return Path(done.stdout.strip()) if done.returncode == 0 else None


def timescale_binaries(server_url: str = SERVER_URL) -> Path:
    """The folder of the PostgreSQL binaries (of the shared server's major version) that can load TimescaleDB;
    skips the test, saying why, where there are none."""
    if not server_url:
        pytest.skip("HR_TEST_TIMESCALE_URL is not set: TimescaleDB mode needs a TimescaleDB server to run against")
    major = _server_major(server_url)
    found = shutil.which("pg_config")
    candidates = [Path(folder.format(major=major)) for folder in BINARY_FOLDERS]
    if found:
        done = subprocess.run([found, "--bindir"], capture_output=True, text=True, check=False)
        candidates.insert(0, Path(done.stdout.strip()))
    for bindir in candidates:
        libdir = _pkglibdir(bindir)
        if libdir is None or not (libdir / "timescaledb.so").exists() or not (bindir / "initdb").exists():
            continue
        version = subprocess.run([str(bindir / "postgres"), "--version"], capture_output=True, text=True, check=False)
        if f" {major}." in version.stdout:
            return bindir
    pytest.skip(
        f"no PostgreSQL {major} binaries with timescaledb.so found on this machine (looked in "
        f"{', '.join(map(str, candidates))}): a test that kills its server needs one of its own"
    )


@dataclass
class TimescaleServer:
    """A TimescaleDB server under ``root`` (data in ``root/data``), on 127.0.0.1:``port``, trust auth on loopback."""

    bindir: Path
    root: Path
    port: int
    account: pwd.struct_passwd | None

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def run(self, tool: str, *args: str) -> None:
        # Without extra_groups the child keeps root's groups, and PostgreSQL cannot open its own files.
        options: dict[str, Any] = (
            {}
            if self.account is None
            else {"user": self.account.pw_uid, "group": self.account.pw_gid, "extra_groups": []}
        )
        done = subprocess.run(
            [str(self.bindir / tool), *args], capture_output=True, text=True, check=False, timeout=300, **options
        )
        assert done.returncode == 0, f"{tool} {' '.join(args)}: {done.stderr or done.stdout}\n{self.log_tail()}"

    def log_tail(self) -> str:
        log = self.root / "server.log"
        return "\n".join(log.read_text(errors="replace").splitlines()[-30:]) if log.exists() else ""

    def start(self) -> None:
        self.run("pg_ctl", "start", "-w", "-t", str(WAIT_S), "-D", str(self.data), "-l", str(self.root / "server.log"))

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self.run("pg_ctl", "stop", "-w", "-m", "fast", "-D", str(self.data))

    def crash(self) -> None:
        """Stop at once, as a power cut or an OOM kill of the postmaster would: SIGQUIT (immediate shutdown),
        no checkpoint; the next start recovers from the WAL."""
        pid = int((self.data / "postmaster.pid").read_text().split()[0])
        os.kill(pid, signal.SIGQUIT)
        _wait(lambda: not _alive(pid), "the server to stop")

    def create_database(self, name: str) -> str:
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return make_conninfo(self.url(), dbname=name)

    def give(self, path: Path) -> None:
        """Make ``path`` the server account's (a tablespace's folder)."""
        if self.account is not None:
            os.chown(path, self.account.pw_uid, self.account.pw_gid)


@contextmanager
def own_timescale_server(root: Path, settings: str = "") -> Iterator[TimescaleServer]:
    """A new TimescaleDB server for the block (under ``root``, or as root under a temporary folder), stopped and
    its folder removed afterwards, whatever state it is in; ``settings``: more lines of postgresql.conf."""
    bindir = timescale_binaries()
    account = None
    if os.geteuid() == 0:
        try:
            account = pwd.getpwnam(SERVER_ACCOUNT)
        except KeyError:
            pytest.skip(f"running as root, and there is no {SERVER_ACCOUNT} account to run a server of our own as")
        root = Path(tempfile.mkdtemp(prefix="hr-timescale-"))
        os.chown(root, account.pw_uid, account.pw_gid)
    else:
        root.mkdir(parents=True)
    server = TimescaleServer(bindir, root, localdb.free_port(), account)
    server.run("initdb", "-D", str(server.data), "-A", "trust", "-U", "postgres", "--encoding=UTF8", "--locale=C")
    with (server.data / "postgresql.conf").open("a") as conf:
        conf.write(SETTINGS.format(port=server.port) + settings)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        if account is not None:
            shutil.rmtree(root, ignore_errors=True)
