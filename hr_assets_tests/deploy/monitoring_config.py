"""The monitoring configuration read as the tests need it: the PromQL of every alert rule and Grafana
panel, the series each one uses, and where each series comes from.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from hr_assets_tests.deploy.deploy_helpers import MONITORING, load_yaml

PROMETHEUS_DIR = MONITORING / "prometheus"
PROMETHEUS_CONFIG = PROMETHEUS_DIR / "prometheus.yml"
ALERTMANAGER_CONFIG = MONITORING / "alertmanager" / "alertmanager.yml"
ALERTMANAGER_SECRET = "/run/secrets/alertmanager_slack_url"
ALERTS = PROMETHEUS_DIR / "alerts.yml"
DASHBOARDS = sorted((MONITORING / "grafana" / "dashboards").glob("*.json"))
EXPORTER_QUERIES = MONITORING / "postgres-exporter" / "queries.yaml"

# The API's /metrics series (API_CONTRACT.md); histograms are used through their _bucket series.
API_SERIES = {
    "hr_api_requests_total",
    "hr_api_request_duration_seconds_bucket",
    "hr_api_request_duration_seconds_sum",
    "hr_api_request_duration_seconds_count",
    "hr_api_db_pool_connections",
    "hr_api_db_pool_max_connections",
    "hr_api_db_pool_requests_waiting",
    "hr_api_database_up",
    "hr_api_info",
    "hr_user_newest_reading_timestamp_seconds",
    "hr_user_active",
    "hr_study_participant_flag",
    "hr_study_flagged_participants",
}
# Built into the postgres exporter (all versions since 0.11) and into Prometheus.
EXPORTER_BUILTIN_SERIES = {"pg_up", "pg_database_size_bytes"}
PROMETHEUS_SERIES = {"up"}
# Only a TimescaleDB warehouse has them (the exporter's hr_warehouse_intraday and hr_timescaledb_job queries).
TIMESCALE_ONLY_PREFIXES = ("hr_warehouse_intraday_", "hr_timescaledb_job_")
# The API publishes a sample of them only while a participant raises a flag (1 per flag raised, no zeros:
# docs/study.md); on a healthy deployment the family is scraped (its HELP and TYPE) without a sample.
WHILE_FLAGGED_SERIES = {"hr_study_participant_flag"}

_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset"}
_GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h", "$user": ".*"}


@dataclass(frozen=True)
class Expression:
    where: str
    expr: str


def alert_expressions() -> list[Expression]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [Expression(f"alert {rule['alert']}", rule["expr"]) for group in groups for rule in group["rules"]]


def dashboard(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def panel_expressions() -> list[Expression]:
    found: list[Expression] = []
    for path in DASHBOARDS:
        for panel in dashboard(path)["panels"]:
            for target in panel["targets"]:
                found.append(Expression(f"{path.name}: {panel['title']} ({target['refId']})", target["expr"]))
    return found


def with_grafana_variables_filled(expr: str) -> str:
    """The PromQL Grafana sends: its variables replaced as it replaces them (a range, a regex)."""
    for variable, value in _GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    return expr


def series_names(expr: str) -> set[str]:
    """The metric names an expression selects (not functions, keywords, labels or durations)."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    expr = re.sub(r"\{[^}]*\}", " ", expr)
    expr = re.sub(r"\[[^\]]*\]", " ", expr)
    expr = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    expr = re.sub(r"\$\w+", " ", expr)
    names: set[str] = set()
    for match in re.finditer(r"(?<![\w.])[A-Za-z_:][A-Za-z0-9_:]*", expr):
        word = match.group(0)
        if word in _KEYWORDS or expr[match.end() :].lstrip().startswith("("):
            continue
        names.add(word)
    return names


def exporter_series() -> set[str]:
    """The series queries.yaml makes: <query>_<column> for each column that is not a label."""
    queries = yaml.safe_load(EXPORTER_QUERIES.read_text())
    return {
        f"{name}_{column}"
        for name, query in queries.items()
        for metric in query["metrics"]
        for column, spec in metric.items()
        if spec["usage"] != "LABEL"
    }


def used_series() -> dict[str, list[str]]:
    """Every series a panel or an alert uses, with where it is used."""
    used: dict[str, list[str]] = {}
    for expression in [*alert_expressions(), *panel_expressions()]:
        for name in series_names(expression.expr):
            used.setdefault(name, []).append(expression.where)
    return used


def prometheus_config_with(tmp_path: Path, targets: dict[str, str], key_file: Path) -> Path:
    """The repository's prometheus.yml, its rules beside it, with the scrape targets and the key
    file moved to where a test runs them; nothing else changes."""
    config = load_yaml(PROMETHEUS_CONFIG)
    for job in config["scrape_configs"]:
        if job["job_name"] in targets:
            job["static_configs"] = [{"targets": [targets[job["job_name"]]]}]
        if "authorization" in job:
            job["authorization"]["credentials_file"] = str(key_file)
    alertmanager = targets.get("alertmanager", "127.0.0.1:9")
    config["alerting"]["alertmanagers"][0]["static_configs"] = [{"targets": [alertmanager]}]
    shutil.copyfile(ALERTS, tmp_path / ALERTS.name)
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def alertmanager_config_with(home: Path, slack_url: str) -> Path:
    """The repository's alertmanager.yml reading its Slack URL from a file in ``home``, not /run/secrets."""
    (home / "slack_url").write_text(slack_url + "\n")
    path = home / "alertmanager.yml"
    path.write_text(ALERTMANAGER_CONFIG.read_text().replace(ALERTMANAGER_SECRET, str(home / "slack_url")))
    return path


def alertmanager_command(binary: str, config: Path, home: Path, port: int) -> list[str]:
    """The flags compose runs Alertmanager with, on loopback and ``home``."""
    return [
        binary,
        f"--config.file={config}",
        f"--storage.path={home / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
    ]
