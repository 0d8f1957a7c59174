"""docker-compose.yml and .env.example, checked without a Docker engine.

The file validates against the Compose Specification's JSON schema (kept in docker/compose-spec/),
and its structure is what production needs: healthchecks and restart policies on everything that
keeps running, start order on health, pinned images, ports on loopback only, memory limits, every
variable documented and no secret in the repository, and each service on the database role it
should have (the API read-only).
"""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from hr_assets_tests.deploy.deploy_helpers import COMPOSE_FILE, ENV_EXAMPLE, ROOT, compose, venv_tool

SCHEMA = ROOT / "docker" / "compose-spec" / "compose-spec.json"
# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?message}, ${NAME?message}
VARIABLE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?[-?])?(?P<rest>[^}]*)\}")
RELEASE_TAG = re.compile(r"^v?\d+\.\d+\.\d+(-[a-z0-9]+)?$")
PIPELINE_SERVICES = {"migrate", "dagster-code"}
DAGSTER_SERVICES = {"dagster-webserver", "dagster-daemon"}


def _services() -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = compose()["services"]
    return services


def _long_running(service: dict[str, Any]) -> bool:
    return service.get("restart", "no") != "no"


def _env_example() -> dict[str, str]:
    values: dict[str, str] = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, sep, value = line.partition("=")
            assert sep, f".env.example: {line!r} is not NAME=value"
            assert name not in values, f".env.example lists {name} twice"
            values[name] = value
    return values


def _required_secrets() -> list[str]:
    """The variables under '# --- secrets (required)' in .env.example."""
    section = ENV_EXAMPLE.read_text().split("# --- secrets (required)")[1].split("# ---")[0]
    return re.findall(r"^([A-Z_][A-Z0-9_]*)=", section, flags=re.MULTILINE)


def _uses() -> list[re.Match[str]]:
    return list(VARIABLE.finditer(COMPOSE_FILE.read_text()))


def test_compose_file_validates_against_the_compose_specification() -> None:
    checker = venv_tool("check-jsonschema")
    done = subprocess.run([checker, "--schemafile", str(SCHEMA), str(COMPOSE_FILE)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_schema_check_rejects_a_broken_compose_file(tmp_path: Path) -> None:
    checker = venv_tool("check-jsonschema")
    broken = compose()
    broken["services"]["api"]["healthcheck"]["intervall"] = "15s"  # a typo the schema must catch
    path = tmp_path / "docker-compose.yml"
    path.write_text(yaml.safe_dump(broken))
    done = subprocess.run([checker, "--schemafile", str(SCHEMA), str(path)], capture_output=True, text=True)
    assert done.returncode != 0 and "intervall" in done.stdout + done.stderr


def test_every_long_running_service_has_a_healthcheck_a_restart_policy_and_a_memory_limit() -> None:
    for name, service in _services().items():
        limits = service.get("deploy", {}).get("resources", {}).get("limits", {})
        assert limits.get("memory"), f"{name} has no memory limit"
        assert "logging" in service, f"{name} has no log rotation"
        if name == "migrate":
            assert service["restart"] == "no", "the migration runs once"
            continue
        assert _long_running(service), f"{name} has no restart policy"
        test = service.get("healthcheck", {}).get("test")
        assert isinstance(test, list) and test[0] == "CMD" and len(test) > 1, f"{name} has no healthcheck"
        assert not service["healthcheck"].get("disable", False)


def test_services_start_only_when_what_they_need_is_healthy_or_done() -> None:
    services = _services()
    for name, service in services.items():
        for dependency, rule in service.get("depends_on", {}).items():
            assert isinstance(rule, dict), f"{name} -> {dependency}: a bare dependency waits for nothing"
            condition = rule["condition"]
            if dependency == "migrate":
                assert condition == "service_completed_successfully", name
            else:
                assert condition == "service_healthy", f"{name} -> {dependency}"
                assert "healthcheck" in services[dependency]
    # The order a fresh deployment starts in.
    assert set(services["migrate"]["depends_on"]) == {"timescaledb"}
    assert set(services["dagster-code"]["depends_on"]) == {"migrate"}
    assert set(services["dagster-webserver"]["depends_on"]) == {"dagster-code"}
    assert set(services["dagster-daemon"]["depends_on"]) == {"dagster-code"}
    assert set(services["api"]["depends_on"]) == {"migrate"}


def test_every_image_is_pinned_to_a_release() -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    for name, service in _services().items():
        image = service["image"]
        repository, _, tag = image.rpartition(":")
        assert repository and "/" not in tag, f"{name}: {image} has no tag"
        if "build" in service:
            assert image == f"hr-pipeline:{version}", f"{name}: the project image is tagged with its version"
            assert service["build"] == "."
        else:
            assert RELEASE_TAG.match(tag), f"{name}: {image} is not pinned to a release"
    assert _services()["timescaledb"]["image"].startswith("timescale/timescaledb:2.")
    assert _services()["timescaledb"]["image"].endswith("-pg17")


# The public profile's reverse proxy is the one service meant to face the internet (docs/enrolment.md).
PUBLIC_PORTS = {"caddy": ["80:80", "443:443", "443:443/udp"]}


def test_no_port_is_published_beyond_loopback() -> None:
    published = 0
    for name, service in _services().items():
        if name in PUBLIC_PORTS:
            assert service["ports"] == PUBLIC_PORTS[name] and service["profiles"] == ["public"], name
            continue
        for port in service.get("ports", []):
            assert isinstance(port, str) and port.startswith("127.0.0.1:"), f"{name} publishes {port}"
            published += 1
        assert service.get("network_mode") != "host", f"{name} shares the host's network"
    assert published == 6


def test_every_variable_is_documented_in_env_example_and_every_documented_one_used() -> None:
    documented = _env_example()
    used = {m["name"] for m in _uses()} | {s["environment"] for s in compose()["secrets"].values()}
    assert used - set(documented) == set(), "used in docker-compose.yml, missing from .env.example"
    assert set(documented) - used == set(), "in .env.example, used nowhere"


def test_no_secret_is_in_the_repository() -> None:
    documented = _env_example()
    secrets = _required_secrets()
    assert len(secrets) == 7
    for name in [*secrets, "HR_ALERTMANAGER_SLACK_URL", "HR_ALERT_WEBHOOK_URL"]:
        assert documented[name] == "", f".env.example gives {name} a value"
    for name in secrets:
        # Compose refuses to start while a required secret is unset or empty (${NAME:?...}).
        assert any(m["name"] == name and m["op"] == ":?" for m in _uses()), f"{name} is not required"
    assert ".env" in (ROOT / ".gitignore").read_text().split()
    # Passwords and keys reach the containers only through variables, URLs' passwords included.
    for name, service in _services().items():
        for key, value in service.get("environment", {}).items():
            if "PASSWORD" in key or key.endswith("_KEY"):
                assert str(value).startswith("${"), f"{name}.{key} is written into the compose file"
            assert not re.search(r"://[^:/@]+:(?!\$\{)[^@]*@", str(value)), f"{name}.{key} has a literal password"


def _environment(service: str) -> dict[str, str]:
    environment: dict[str, str] = _services()[service].get("environment", {})
    return environment


def test_the_api_reads_as_the_read_only_role_with_keys_required() -> None:
    env = _environment("api")
    assert env["HR_API_DATABASE_URL"].startswith("postgresql://hr_reader:${HR_DB_READER_PASSWORD")
    assert env["HR_API_AUTH"] == "keys"
    assert "HR_DATABASE_URL" not in env and "HR_DAGSTER_STORAGE_URL" not in env
    assert _services()["api"]["command"] == ["hr", "api", "--host", "0.0.0.0", "--port", "8000"]


def test_each_service_gets_only_the_database_role_it_needs() -> None:
    for name in PIPELINE_SERVICES:
        env = _environment(name)
        assert env["HR_DATABASE_URL"].startswith("postgresql://hr_owner:"), name
        assert env["HR_WAREHOUSE_MODE"] == "timescaledb", name
        assert env["HR_DAGSTER_STORAGE_URL"].startswith("postgresql+psycopg2://dagster:"), name
        assert env["HR_DAGSTER_STORAGE_URL"].endswith("@timescaledb:5432/dagster"), name
    for name in DAGSTER_SERVICES:
        # The webserver and daemon only talk to Dagster's storage and the code location.
        assert set(_environment(name)) == {"HR_DAGSTER_STORAGE_URL"}, name
    exporter = _environment("postgres-exporter")
    assert exporter["DATA_SOURCE_USER"] == "hr_monitor"
    assert "postgres" not in {exporter["DATA_SOURCE_USER"]}
    timescale = _environment("timescaledb")
    assert timescale["POSTGRES_DB"] == "postgres", "the init script creates the warehouse database, owned by hr_owner"


def test_timescaledb_runs_the_init_script_beside_the_images_own_with_telemetry_off() -> None:
    service = _services()["timescaledb"]
    assert service["environment"]["TIMESCALEDB_TELEMETRY"] == "off"
    assert "timescaledb.telemetry_level=off" in service["command"]
    mounts = [volume.split(":") for volume in service["volumes"]]
    assert ["timescaledb-data", "/var/lib/postgresql/data"] in mounts
    # The one script as one file: mounting the folder would hide the image's extension and tuning scripts.
    assert ["./docker/initdb/010-hr-roles.sh", "/docker-entrypoint-initdb.d/010-hr-roles.sh", "ro"] in mounts
    # Every password the script needs is passed in.
    script = (ROOT / "docker" / "initdb" / "010-hr-roles.sh").read_text()
    needed = set(re.findall(r"\b(HR_[A-Z_]+_PASSWORD)\b", script))
    assert needed and needed <= set(service["environment"])
    # Ready only once the real server listens: the init-time server has no TCP socket.
    assert service["healthcheck"]["test"][:4] == ["CMD", "pg_isready", "-h", "127.0.0.1"]


def test_every_file_mounted_from_the_repository_exists() -> None:
    mounted = 0
    for name, service in _services().items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts {source}, which is not in the repository"
                mounted += 1
            else:
                assert source in compose()["volumes"], f"{name} uses undeclared volume {source}"
    assert mounted >= 6


def test_the_project_services_use_the_image_and_the_compose_workspace() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "COPY dagster.yaml docker/dagster/workspace.yaml /opt/dagster/" in dockerfile
    for name in DAGSTER_SERVICES:
        command = _services()[name]["command"]
        assert command[command.index("-w") + 1] == "/opt/dagster/workspace.yaml", name
    workspace = yaml.safe_load((ROOT / "docker" / "dagster" / "workspace.yaml").read_text())
    [location] = workspace["load_from"]
    server = _services()["dagster-code"]["command"]
    assert location["grpc_server"]["host"] == "dagster-code"
    assert str(location["grpc_server"]["port"]) == server[server.index("-p") + 1]
    assert location["grpc_server"]["location_name"] == server[server.index("--location-name") + 1]
    # The run logs the UI shows are written by the code location's runs: one volume for all three.
    for name in ["dagster-code", *DAGSTER_SERVICES]:
        assert "dagster-storage:/opt/dagster/storage" in _services()[name]["volumes"], name


@pytest.mark.parametrize("secret", ["hr_api_metrics_key", "alertmanager_slack_url"])
def test_secret_files_are_mounted_where_the_monitoring_configuration_reads_them(secret: str) -> None:
    users = [name for name, service in _services().items() if secret in service.get("secrets", [])]
    assert len(users) == 1
    [user] = users
    config = {"prometheus": "prometheus/prometheus.yml", "alertmanager": "alertmanager/alertmanager.yml"}[user]
    assert f"/run/secrets/{secret}" in (ROOT / "monitoring" / config).read_text()
