"""The monitoring profile's configuration, checked by the real tools (Debian's prometheus and
prometheus-alertmanager packages: promtool, amtool) and by its structure: the alerts the issue asks
for, each unit-tested firing and not firing; scrape targets that exist; two provisioned Grafana
dashboards whose every query is valid PromQL over series the API or the exporter provide; the
exporter's warehouse queries run as the monitoring role on a real warehouse.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from hr_assets_tests.deploy.deploy_helpers import MONITORING, compose, debian_tool, load_yaml
from hr_assets_tests.deploy.monitoring_config import (
    ALERTMANAGER_CONFIG,
    ALERTS,
    API_SERIES,
    DASHBOARDS,
    EXPORTER_BUILTIN_SERIES,
    EXPORTER_QUERIES,
    PROMETHEUS_CONFIG,
    PROMETHEUS_DIR,
    PROMETHEUS_SERIES,
    alert_expressions,
    dashboard,
    exporter_series,
    panel_expressions,
    prometheus_config_with,
    series_names,
    used_series,
    with_grafana_variables_filled,
)

ALERTS_TEST = PROMETHEUS_DIR / "alerts_test.yml"
DATASOURCES = MONITORING / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
DASHBOARD_PROVIDERS = MONITORING / "grafana" / "provisioning" / "dashboards" / "hr-pipeline.yml"
# The alerts the deployment promises, by what they watch.
REQUIRED_ALERTS = {
    "HrApiDown",
    "HrApiErrorRateHigh",
    "HrApiLatencyHigh",
    "HrUserReadingsStale",
    "HrUserWithoutReadings",
    "HrDatabaseDown",
    "HrParticipantNoValidDay",
    "HrTimescaleJobOverdue",
}


def _promtool() -> str:
    return debian_tool("promtool", "prometheus")


def _tool(args: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, cwd=cwd)


def _rules() -> list[dict[str, Any]]:
    return [rule for group in load_yaml(ALERTS)["groups"] for rule in group["rules"]]


# --- Prometheus ------------------------------------------------------------------------------------


def test_promtool_accepts_the_configuration_and_its_rules(tmp_path: Path) -> None:
    promtool = _promtool()
    key = tmp_path / "key"
    key.write_text("hr_test\n")
    done = _tool([promtool, "check", "config", str(prometheus_config_with(tmp_path, {}, key))])
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout and "9 rules found" in done.stdout
    # The file as shipped (its key file exists only in the container).
    done = _tool([promtool, "check", "config", "--syntax-only", str(PROMETHEUS_CONFIG)])
    assert done.returncode == 0, done.stdout + done.stderr


def test_promtool_check_rules_accepts_the_alerts() -> None:
    done = _tool([_promtool(), "check", "rules", str(ALERTS)])
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_alert_passes_its_unit_tests() -> None:
    done = _tool([_promtool(), "test", "rules", ALERTS_TEST.name], cwd=PROMETHEUS_DIR)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_the_unit_tests_catch_a_changed_threshold(tmp_path: Path) -> None:
    shutil.copyfile(ALERTS_TEST, tmp_path / ALERTS_TEST.name)
    (tmp_path / ALERTS.name).write_text(ALERTS.read_text().replace("> 36 * 3600", "> 48 * 3600"))
    done = _tool([_promtool(), "test", "rules", ALERTS_TEST.name], cwd=tmp_path)
    assert done.returncode != 0 and "alertname: HrUserReadingsStale" in done.stdout + done.stderr


def test_the_alerts_the_deployment_promises_are_there_each_tested_firing_and_not_firing() -> None:
    rules = {rule["alert"]: rule for rule in _rules()}
    assert set(rules) >= REQUIRED_ALERTS
    assert rules["HrApiErrorRateHigh"]["for"] == "5m" and "> 0.05" in rules["HrApiErrorRateHigh"]["expr"]
    assert rules["HrApiLatencyHigh"]["for"] == "10m" and "histogram_quantile(0.95" in rules["HrApiLatencyHigh"]["expr"]
    assert "> 0.5" in rules["HrApiLatencyHigh"]["expr"]
    assert "36 * 3600" in rules["HrUserReadingsStale"]["expr"] and rules["HrUserWithoutReadings"]["for"] == "36h"
    assert rules["HrParticipantNoValidDay"]["expr"] == 'hr_study_participant_flag{flag="no_valid_day"} == 1'
    assert "2 * hr_timescaledb_job_schedule_interval_seconds" in rules["HrTimescaleJobOverdue"]["expr"]
    cases: dict[str, set[bool]] = {}
    for test in load_yaml(ALERTS_TEST)["tests"]:
        for case in test["alert_rule_test"]:
            cases.setdefault(case["alertname"], set()).add(bool(case["exp_alerts"]))
    for name in rules:
        assert cases.get(name) == {True, False}, f"{name} needs a firing and a quiet unit test"
    for rule in rules.values():
        assert rule["labels"]["severity"] in {"critical", "warning"}
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]


def test_every_scrape_target_is_a_service_that_listens_there() -> None:
    services = compose()["services"]
    ports = {
        "api": 8000,
        "postgres-exporter": 9187,
        "alertmanager": 9093,
        "prometheus": 9090,
    }
    config = load_yaml(PROMETHEUS_CONFIG)
    targets = [t for job in config["scrape_configs"] for c in job["static_configs"] for t in c["targets"]]
    targets += [t for am in config["alerting"]["alertmanagers"] for c in am["static_configs"] for t in c["targets"]]
    for target in targets:
        host, _, port = target.partition(":")
        if host == "localhost":
            host = "prometheus"
        assert host in services, f"{target}: no such service"
        assert int(port) == ports[host], f"{target}: {host} listens on {ports[host]}"
        assert host == "api" or "monitoring" in services[host].get("profiles", []), host
    assert {job["job_name"] for job in config["scrape_configs"]} == {"hr-api", "postgres", "alertmanager", "prometheus"}
    # Alert expressions name these jobs.
    for expression in alert_expressions():
        for job in ("hr-api", "postgres"):
            if f'job="{job}"' in expression.expr:
                assert job in {j["job_name"] for j in config["scrape_configs"]}


def test_every_series_used_is_one_the_api_the_exporter_or_prometheus_provides() -> None:
    known = API_SERIES | EXPORTER_BUILTIN_SERIES | PROMETHEUS_SERIES | exporter_series()
    used = used_series()
    unknown = {name: where for name, where in used.items() if name not in known}
    assert unknown == {}
    # The Data dashboard needs the exporter's warehouse metrics, the API dashboard the API's.
    assert {"hr_warehouse_latest_day_readings", "hr_warehouse_intraday_before_compression_bytes"} <= set(used)
    assert {"hr_api_requests_total", "hr_api_request_duration_seconds_bucket", "pg_database_size_bytes"} <= set(used)


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ('sum by (route, le) (rate(x_bucket{route!~"/health|/metrics"}[5m]))', {"x_bucket"}),
        ("time() - hr_user_newest_reading_timestamp_seconds > 36 * 3600", {"hr_user_newest_reading_timestamp_seconds"}),
        ("a unless on (user_id) b", {"a", "b"}),
        ('pg_up{job="postgres"} == 0 or up offset 5m', {"pg_up", "up"}),
        ('count(c{user_id=~"$user"}) or vector(0)', {"c"}),
    ],
)
def test_series_names_finds_the_metrics_of_an_expression(expr: str, names: set[str]) -> None:
    assert series_names(expr) == names


def test_every_dashboard_query_is_valid_promql(tmp_path: Path) -> None:
    expressions = panel_expressions()
    rules = {
        "groups": [
            {
                "name": "dashboards",
                "rules": [
                    {"record": f"dashboard:query_{i}", "expr": with_grafana_variables_filled(e.expr)}
                    for i, e in enumerate(expressions)
                ],
            }
        ]
    }
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump(rules))
    done = _tool([_promtool(), "check", "rules", str(path)])
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{len(expressions)} rules found" in done.stdout


# --- Alertmanager -------------------------------------------------------------------------------


def _amtool() -> str:
    return debian_tool("amtool", "prometheus-alertmanager")


def test_amtool_accepts_the_alertmanager_configuration() -> None:
    done = _tool([_amtool(), "check-config", str(ALERTMANAGER_CONFIG)])
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (["alertname=HrApiDown", "severity=critical"], "operators"),
        (["alertname=DagsterRunFailed", "source=dagster", "run_id=abc"], "operators"),
    ],
)
def test_every_alert_reaches_the_operators(labels: list[str], receiver: str) -> None:
    done = _tool([_amtool(), "config", "routes", "test", f"--config.file={ALERTMANAGER_CONFIG}", *labels])
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == receiver


def test_alertmanager_reads_the_slack_url_from_the_compose_secret() -> None:
    [receiver] = load_yaml(ALERTMANAGER_CONFIG)["receivers"]
    [slack] = receiver["slack_configs"]
    assert slack["api_url_file"] == "/run/secrets/alertmanager_slack_url"
    assert "api_url" not in slack and slack["send_resolved"] is True


# --- Grafana ----------------------------------------------------------------------------------------


def test_grafana_provisions_prometheus_and_the_dashboards_folder_compose_mounts() -> None:
    datasources = {d["uid"]: d for d in load_yaml(DATASOURCES)["datasources"]}
    assert datasources["prometheus"]["url"] == "http://prometheus:9090" and datasources["prometheus"]["isDefault"]
    assert datasources["alertmanager"]["url"] == "http://alertmanager:9093"
    [provider] = load_yaml(DASHBOARD_PROVIDERS)["providers"]
    grafana = compose()["services"]["grafana"]
    assert f"./monitoring/grafana/dashboards:{provider['options']['path']}:ro" in grafana["volumes"]
    assert "./monitoring/grafana/provisioning:/etc/grafana/provisioning:ro" in grafana["volumes"]


def test_the_two_dashboards_have_the_panels_the_deployment_promises() -> None:
    by_uid = {dashboard(path)["uid"]: dashboard(path) for path in DASHBOARDS}
    assert set(by_uid) == {"hr-api", "hr-data"}
    titles = {uid: {p["title"] for p in d["panels"]} for uid, d in by_uid.items()}
    assert {"Request rate by route", "Error rate by route", "Latency percentiles by route"} <= titles["hr-api"]
    assert {
        "Newest reading per user",
        "Age of the newest reading",
        "Readings per day",
        "Database size",
        "Columnstore compression ratio",
    } <= titles["hr-data"]
    latency = next(p for p in by_uid["hr-api"]["panels"] if p["title"] == "Latency percentiles by route")
    assert [t["expr"].split(",")[0] for t in latency["targets"]] == [
        "histogram_quantile(0.5",
        "histogram_quantile(0.95",
        "histogram_quantile(0.99",
    ]
    for uid, board in by_uid.items():
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids)), f"{uid}: panel ids repeat"
        for panel in board["panels"]:
            assert panel["datasource"] == {"type": "prometheus", "uid": "prometheus"}, panel["title"]
            assert panel["targets"] and panel["description"], panel["title"]
            for target in panel["targets"]:
                assert target["datasource"]["uid"] == "prometheus"


# --- postgres exporter ------------------------------------------------------------------------------


def test_the_exporter_queries_run_read_only_and_return_their_columns(db_url: str) -> None:
    """On a migrated PostgreSQL-mode warehouse (the TimescaleDB-only query runs in the live test)."""
    queries = load_yaml(EXPORTER_QUERIES)
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO users (id, display_name, timezone, start_date, retired_at) VALUES"
            " ('alice', 'a', 'UTC', '2025-01-01', NULL), ('bob', 'b', 'UTC', '2025-01-01', now())"
        )
        conn.execute(
            "INSERT INTO partition_loads (user_id, date, payload, rows_loaded, rows_quarantined, covered_seconds,"
            " day_seconds) VALUES ('alice', '2025-06-01', 'intraday', 100, 1, 43200, 86400),"
            " ('alice', '2025-06-02', 'intraday', 80, 2, 21600, 86400),"
            " ('alice', '2025-06-03', 'summary', 1, 0, NULL, NULL), ('bob', '2025-06-02', 'intraday', 5, 0, 60, 86400)"
        )
        conn.execute("SET default_transaction_read_only = on")
        results = {}
        for name in ("hr_warehouse_latest_day", "hr_warehouse_user"):
            cursor = conn.execute(queries[name]["query"])
            columns = [c.name for c in cursor.description or []]
            assert columns == [column for metric in queries[name]["metrics"] for column in metric], name
            results[name] = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    # The retired user is left out; alice's latest intraday day, not her summary.
    assert results["hr_warehouse_latest_day"] == [
        {"user_id": "alice", "readings": 80, "quarantined": 2, "coverage_ratio": 0.25, "date_seconds": 1748822400.0}
    ]
    assert results["hr_warehouse_user"] == [{"user_id": "alice", "readings": 180, "days_loaded": 2}]
