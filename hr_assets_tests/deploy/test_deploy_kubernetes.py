"""The Kubernetes path (deploy/kubernetes/) checked without a cluster: the dagster/dagster chart's
values against the chart's documented keys (dagster-chart-keys.yaml), the Kubernetes objects in the
manifests and in the values against Kubernetes' own schemas (kubernetes-validate), and the settings
that must agree with the rest of the repository: versions, images, dagster.yaml's instance settings,
the API as the read-only role, and nothing secret.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from hr_assets_tests.deploy.deploy_helpers import ROOT, load_yaml

KUBERNETES = ROOT / "deploy" / "kubernetes"
VALUES = KUBERNETES / "dagster-values.yaml"
CHART_KEYS = KUBERNETES / "dagster-chart-keys.yaml"
MANIFESTS = KUBERNETES / "hr-pipeline.yaml"
KUBERNETES_VERSION = "1.33.0"
INSTANCE_SETTINGS = ("concurrency", "run_monitoring", "run_retries", "retention")
# Where the chart puts each kind of Kubernetes object in a pod, to validate it in place.
POD_PARTS = {
    "kubernetes:PodSecurityContext": ("spec", "securityContext"),
    "kubernetes:SecurityContext": ("container", "securityContext"),
    "kubernetes:ResourceRequirements": ("container", "resources"),
    "kubernetes:SecretEnvSource": ("container", "envFrom"),
}


def _values() -> dict[str, Any]:
    loaded: dict[str, Any] = load_yaml(VALUES)
    return loaded


def _dagster_version() -> str:
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    [dagster] = [p for p in lock["package"] if p["name"] == "dagster"]
    return str(dagster["version"])


def _walk(value: Any, spec: Any, path: str, found: list[tuple[str, str, Any]]) -> None:
    """Check ``value`` against the key tree ``spec``; collect the Kubernetes-typed leaves."""
    if spec == "value":
        return
    if isinstance(spec, str) and spec.startswith("kubernetes:"):
        found.append((path, spec, value))
        return
    if isinstance(spec, list):
        assert isinstance(value, list), f"{path}: the chart takes a list"
        for i, item in enumerate(value):
            _walk(item, spec[0], f"{path}[{i}]", found)
        return
    assert isinstance(value, dict), f"{path}: the chart takes an object"
    missing = [key for key in spec.get("required", []) if key not in value]
    assert not missing, f"{path}: the chart requires {missing}"
    for key, item in value.items():
        assert key in spec and key != "required", f"{path}.{key} is not a documented key of the chart"
        _walk(item, spec[key], f"{path}.{key}" if path else key, found)


def _typed_leaves() -> list[tuple[str, str, Any]]:
    found: list[tuple[str, str, Any]] = []
    _walk(_values(), load_yaml(CHART_KEYS)["keys"], "", found)
    return found


def test_every_values_key_is_a_documented_key_of_the_chart() -> None:
    assert len(_typed_leaves()) >= 6


def test_the_key_check_rejects_an_invented_key() -> None:
    values = _values()
    values["dagster-user-deployments"]["deployments"][0]["codeServerArg"] = ["-m", "x"]  # misspelt
    with pytest.raises(AssertionError, match="codeServerArg is not a documented key"):
        _walk(values, load_yaml(CHART_KEYS)["keys"], "", [])


@pytest.mark.parametrize(("path", "kind", "value"), _typed_leaves(), ids=lambda x: x if isinstance(x, str) else "")
def test_kubernetes_objects_in_the_values_are_valid_where_the_chart_puts_them(path: str, kind: str, value: Any) -> None:
    where, field = POD_PARTS[kind]
    container: dict[str, Any] = {"name": "c", "image": "registry.example.com/hr-pipeline:0.1.0"}
    pod: dict[str, Any] = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}
    pod["spec"] = {"containers": [container]}
    if field == "envFrom":
        container["envFrom"] = [{"secretRef": item} for item in value]
    elif where == "container":
        container[field] = value
    else:
        pod["spec"][field] = value
    kubernetes_validate.validate(pod, KUBERNETES_VERSION, strict=True)


def _manifests() -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(MANIFESTS.read_text()) if doc]


@pytest.mark.parametrize("manifest", _manifests(), ids=lambda m: f"{m['kind']}/{m['metadata']['name']}")
def test_manifests_validate_against_kubernetes(manifest: dict[str, Any]) -> None:
    kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)


def test_validation_rejects_a_broken_manifest() -> None:
    [api] = [m for m in _manifests() if m["kind"] == "Deployment"]
    api["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["prot"] = 8000
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(api, KUBERNETES_VERSION, strict=True)


def test_chart_and_dagster_images_match_the_locked_dagster_release() -> None:
    version = _dagster_version()
    values = _values()
    for component in ("dagsterWebserver", "dagsterDaemon"):
        assert str(values[component]["image"]["tag"]) == version, component
    for text in (VALUES.read_text(), (KUBERNETES / "README.md").read_text()):
        assert f"--version {version}" in text
        assert not re.search(r"--version (?!" + re.escape(version) + r")\d", text)


def test_the_project_image_is_the_one_compose_builds_everywhere() -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    [deployment] = _values()["dagster-user-deployments"]["deployments"]
    assert str(deployment["image"]["tag"]) == version
    images = {
        c["image"]
        for m in _manifests()
        if m["kind"] in {"Deployment", "Job"}
        for c in m["spec"]["template"]["spec"]["containers"]
    }
    assert images == {f"{deployment['image']['repository']}:{version}"}


def test_instance_settings_are_dagster_yamls() -> None:
    instance = load_yaml(ROOT / "dagster.yaml")
    values = _values()
    assert {key: values["additionalInstanceConfig"][key] for key in INSTANCE_SETTINGS} == {
        key: instance[key] for key in INSTANCE_SETTINGS
    }
    # The chart's own renderings of the same sections are off, so each appears once.
    assert values["dagsterDaemon"]["runMonitoring"]["enabled"] is False
    assert values["dagsterDaemon"]["runRetries"]["enabled"] is False
    assert values["retention"]["enabled"] is False
    assert values["telemetry"]["enabled"] is False
    assert values["pythonLogs"]["managedPythonLoggers"] == instance["python_logs"]["managed_python_loggers"]
    # The run queue is read as often as dagster.yaml's run_coordinator reads it.
    queued = values["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]
    assert instance["run_coordinator"]["class"] == "QueuedRunCoordinator"
    assert queued == {"dequeueIntervalSeconds": instance["run_coordinator"]["config"]["dequeue_interval_seconds"]}


def test_runs_are_kubernetes_jobs_of_the_code_location_on_external_storage() -> None:
    values = _values()
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    [deployment] = values["dagster-user-deployments"]["deployments"]
    compose_command = load_yaml(ROOT / "docker-compose.yml")["services"]["dagster-code"]["command"]
    # The chart runs `dagster code-server start -h 0.0.0.0 -p <port>` followed by these.
    assert deployment["codeServerArgs"] == compose_command[compose_command.index("-m") :]
    assert deployment["includeConfigInLaunchedRuns"]["enabled"] is True
    assert {"name": "hr-pipeline-warehouse"} in deployment["envSecrets"]
    assert values["postgresql"]["enabled"] is False and values["generatePostgresqlPasswordSecret"] is False
    assert values["postgresql"]["postgresqlUsername"] == "dagster" and values["postgresql"]["postgresqlPassword"] == ""
    assert values["global"]["postgresqlSecretName"] == "dagster-postgresql-secret"
    assert values["dagsterWebserver"]["service"]["type"] == "ClusterIP"


def test_the_api_reads_the_replica_as_the_read_only_role_with_keys_required() -> None:
    [api] = [m for m in _manifests() if m["kind"] == "Deployment"]
    [container] = api["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["HR_API_AUTH"] == "keys"
    assert container["envFrom"] == [{"secretRef": {"name": "hr-pipeline-api"}}]
    readme = (KUBERNETES / "README.md").read_text()
    assert 'HR_API_DATABASE_URL="postgresql://hr_reader:' in readme and "replica" in readme
    assert container["readinessProbe"]["httpGet"]["path"] == "/health"
    assert "tcpSocket" in container["livenessProbe"], "a database outage must not restart the API"
    pod = api["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == 10001


def test_nothing_secret_is_in_the_kubernetes_files() -> None:
    for path in KUBERNETES.iterdir():
        text = path.read_text()
        assert not re.search(r"://[^:/@\s]+:(?!\$)[^@\s]+@", text), f"{path.name} has a password in a URL"
    for manifest in _manifests():
        assert manifest["kind"] != "Secret"
    for path, _, _ in _typed_leaves():
        assert "password" not in path.lower()


def test_the_service_monitor_names_the_job_the_alerts_expect() -> None:
    monitor = load_yaml(KUBERNETES / "monitoring.yaml")
    [endpoint] = monitor["spec"]["endpoints"]
    assert endpoint["relabelings"] == [{"targetLabel": "job", "replacement": "hr-api"}]
    assert endpoint["authorization"]["credentials"] == {"name": "hr-pipeline-api", "key": "HR_API_METRICS_KEY"}
    assert 'job="hr-api"' in Path(ROOT / "monitoring" / "prometheus" / "alerts.yml").read_text()
