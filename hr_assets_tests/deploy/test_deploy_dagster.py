"""Dagster as docker compose runs it, on loopback instead of the compose network: the code location
started with the dagster-code service's command as a gRPC server, checked by that service's
healthcheck; `dagster definitions validate` of the compose workspace (docker/dagster/workspace.yaml)
with the instance configuration the image carries (dagster.yaml, storage in PostgreSQL); and the
webserver answering the dagster-webserver service's healthcheck.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from hr_assets.local import localdb
from hr_assets_tests.conftest import create_database, drop_database
from hr_assets_tests.deploy.deploy_helpers import (
    COMPOSE_WORKSPACE,
    ROOT,
    VENV_BIN,
    clean_env,
    command_passes,
    compose,
    service_command,
    start,
    stop,
    wait_for,
)


@dataclass(frozen=True)
class CodeServer:
    port: int
    env: dict[str, str]
    home: Path


def _healthcheck(service: str, port: int, default_port: int) -> list[str]:
    test = compose()["services"][service]["healthcheck"]["test"][1:]
    test = [part.replace(f":{default_port}/", f":{port}/") for part in test]
    if "-p" in test:
        test[test.index("-p") + 1] = str(port)
    return [str(VENV_BIN / test[0]), *test[1:]]


def _workspace_at(path: Path, port: int) -> Path:
    workspace = yaml.safe_load(COMPOSE_WORKSPACE.read_text())
    workspace["load_from"][0]["grpc_server"].update(host="127.0.0.1", port=port)
    path.write_text(yaml.safe_dump(workspace))
    return path


@pytest.fixture(scope="module")
def code_server(
    pg_server: localdb.LocalServer, template_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CodeServer]:
    home = tmp_path_factory.mktemp("compose-dagster")
    (home / "dagster").mkdir()
    shutil.copyfile(ROOT / "dagster.yaml", home / "dagster" / "dagster.yaml")  # as the image has it
    warehouse = create_database(pg_server, "hr_compose_warehouse", template="hr_template")
    storage = create_database(pg_server, "hr_compose_dagster")
    env = clean_env(
        HR_DATABASE_URL=warehouse,
        HR_DAGSTER_STORAGE_URL=storage.replace("postgresql://", "postgresql+psycopg2://", 1),
        DAGSTER_HOME=str(home / "dagster"),
        HR_HOME=str(home / "hr"),
    )
    port = localdb.free_port()
    log = home / "code-server.log"
    server = start(service_command("dagster-code", "127.0.0.1", port), env, log)
    try:
        wait_for(command_passes(_healthcheck("dagster-code", port, 4000), env), server, log)
        yield CodeServer(port, env, home)
    finally:
        stop(server)
        drop_database(pg_server, "hr_compose_warehouse")
        drop_database(pg_server, "hr_compose_dagster")


def _validate(code_server: CodeServer, workspace: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(VENV_BIN / "dagster"), "definitions", "validate", "-w", str(workspace)],
        env=code_server.env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_compose_workspace_validates_against_the_running_code_location(code_server: CodeServer) -> None:
    done = _validate(code_server, _workspace_at(code_server.home / "workspace.yaml", code_server.port))
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "hr_assets" in output and "Validation successful" in output


def test_validation_fails_when_the_workspace_points_at_no_code_location(code_server: CodeServer) -> None:
    assert _validate(code_server, _workspace_at(code_server.home / "nowhere.yaml", localdb.free_port())).returncode != 0


def test_webserver_on_the_compose_workspace_passes_its_healthcheck(code_server: CodeServer) -> None:
    workspace = _workspace_at(code_server.home / "webserver.yaml", code_server.port)
    port = localdb.free_port()
    command = service_command("dagster-webserver", "127.0.0.1", port)
    command[command.index("-w") + 1] = str(workspace)
    # Only the storage setting, as compose gives it.
    env = {key: value for key, value in code_server.env.items() if not key.startswith("HR_DATABASE")}
    log = code_server.home / "webserver.log"
    server = start(command, env, log)
    try:
        wait_for(command_passes(_healthcheck("dagster-webserver", port, 3000), env), server, log)
    finally:
        stop(server)
