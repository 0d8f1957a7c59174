"""The monitoring profile live, on loopback: the API started as compose's api service starts it
(read-only role, keys required, HR_API_METRICS_KEY), Debian's postgres exporter as compose
configures it (role hr_monitor, monitoring/postgres-exporter/queries.yaml), Alertmanager, and a real
Prometheus running the repository's prometheus.yml and alerts.yml, only the targets and the key
file moved. Then every series a Grafana panel or an alert uses must exist in Prometheus, every
panel's query must evaluate, and on this healthy deployment no alert may fire or even be pending.
"""

from __future__ import annotations

import json
import re
import secrets
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from hr_assets.local import localdb
from hr_assets_tests.deploy.deploy_helpers import (
    VENV_BIN,
    Provisioned,
    answers,
    clean_env,
    compose,
    debian_tool,
    pipeline_env,
    run,
    service_command,
    start,
    stop,
    wait_for,
)
from hr_assets_tests.deploy.monitoring_config import (
    EXPORTER_QUERIES,
    TIMESCALE_ONLY_PREFIXES,
    WHILE_FLAGGED_SERIES,
    alert_expressions,
    alertmanager_command,
    alertmanager_config_with,
    panel_expressions,
    prometheus_config_with,
    used_series,
    with_grafana_variables_filled,
)

# The configuration scrapes and evaluates rules every 15 s.
SCRAPES_TIMEOUT_S = 120
RULES_TIMEOUT_S = 60


@dataclass(frozen=True)
class Stack:
    deployment: Provisioned
    api: str
    metrics_key: str
    user_key: str
    prometheus: str
    timescale: bool
    # When every target had been scraped once.
    scraped_at: datetime


def _get(url: str, token: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _query(prometheus: str, expr: str) -> dict[str, Any]:
    status, body = _get(f"{prometheus}/api/v1/query?{urllib.parse.urlencode({'query': expr})}")
    answer: dict[str, Any] = json.loads(body)
    assert status == 200 and answer["status"] == "success", f"{expr}: {answer}"
    return answer


def _vector(prometheus: str, expr: str) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = _query(prometheus, expr)["data"]["result"]
    return result


def _exporter_env(deployment: Provisioned) -> dict[str, str]:
    """The postgres-exporter service's environment, its database on this server."""
    server = conninfo_to_dict(deployment.admin_url)
    env = dict(compose()["services"]["postgres-exporter"]["environment"])
    assert env["DATA_SOURCE_URI"] == "timescaledb:5432/hr?sslmode=disable"
    env["DATA_SOURCE_URI"] = f"{server.get('host', '127.0.0.1')}:{server.get('port', 5432)}/{deployment.warehouse_db}"
    env["DATA_SOURCE_URI"] += "?sslmode=disable"
    assert env["DATA_SOURCE_PASS"] == "${HR_DB_MONITOR_PASSWORD}"
    env["DATA_SOURCE_PASS"] = deployment.passwords["hr_monitor"]
    env["PG_EXPORTER_EXTEND_QUERY_PATH"] = str(EXPORTER_QUERIES)
    return clean_env(**env)


def _convert_to_columnstore(deployment: Provisioned) -> None:
    """As the owner, what the columnstore policy does a week after a chunk ends, now."""
    with psycopg.connect(deployment.owner_url, autocommit=True) as conn:
        for (chunk,) in conn.execute("SELECT show_chunks('activities_heart_intraday')::text").fetchall():
            conn.execute("CALL convert_to_columnstore(%s::regclass, if_not_columnstore => true)", (chunk,))


@pytest.fixture(scope="module")
def stack(deployment: Provisioned, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    prometheus_binary = debian_tool("prometheus", "prometheus")
    exporter_binary = debian_tool("prometheus-postgres-exporter", "prometheus-postgres-exporter")
    alertmanager_binary = debian_tool("prometheus-alertmanager", "prometheus-alertmanager")
    home = tmp_path_factory.mktemp("monitoring")
    with psycopg.connect(deployment.owner_url) as conn:
        timescale = conn.execute("SELECT mode FROM schema_migrations LIMIT 1").fetchone() == ("timescaledb",)
    if timescale:
        _convert_to_columnstore(deployment)

    # A key for alice, made as the operator makes one (the owner role writes the key table).
    hr_env = pipeline_env(deployment, home / "cli")
    created = re.search(
        r"^hr_[A-Za-z0-9_-]{43}$",
        run([str(VENV_BIN / "hr"), "api-keys", "create", "--user", "alice"], hr_env),
        re.MULTILINE,
    )
    assert created, "hr api-keys create printed no key"
    user_key = created.group(0)

    metrics_key = "hr_" + secrets.token_urlsafe(32)
    ports = {name: localdb.free_port() for name in ("api", "exporter", "alertmanager", "prometheus")}
    api_env = dict(compose()["services"]["api"]["environment"])
    api_env.update(HR_API_DATABASE_URL=deployment.reader_url, HR_API_METRICS_KEY=metrics_key, HR_API_CORS_ORIGINS="")
    processes: list[subprocess.Popen[bytes]] = []
    try:
        api_log = home / "api.log"
        processes.append(
            start(
                service_command("api", "127.0.0.1", ports["api"]),
                clean_env(**api_env, HR_HOME=str(home / "api-home")),
                api_log,
            )
        )
        api = f"http://127.0.0.1:{ports['api']}"
        wait_for(lambda: answers(f"{api}/health"), processes[-1], api_log)

        exporter_log = home / "exporter.log"
        processes.append(
            start(
                [exporter_binary, f"--web.listen-address=127.0.0.1:{ports['exporter']}"],
                _exporter_env(deployment),
                exporter_log,
            )
        )
        wait_for(lambda: answers(f"http://127.0.0.1:{ports['exporter']}/"), processes[-1], exporter_log)

        am_home = home / "alertmanager"
        am_home.mkdir()
        am_log = am_home / "alertmanager.log"
        config = alertmanager_config_with(am_home, "http://127.0.0.1:9/unused")
        processes.append(
            start(
                alertmanager_command(alertmanager_binary, config, am_home, ports["alertmanager"]), clean_env(), am_log
            )
        )
        wait_for(lambda: answers(f"http://127.0.0.1:{ports['alertmanager']}/-/ready"), processes[-1], am_log)

        key_file = home / "hr_api_metrics_key"
        key_file.write_text(metrics_key + "\n")  # as compose writes a secret: the value, maybe a newline
        targets = {
            "hr-api": f"127.0.0.1:{ports['api']}",
            "postgres": f"127.0.0.1:{ports['exporter']}",
            "alertmanager": f"127.0.0.1:{ports['alertmanager']}",
            "prometheus": f"127.0.0.1:{ports['prometheus']}",
        }
        prom_home = home / "prometheus"
        prom_home.mkdir()
        prom_config = prometheus_config_with(prom_home, targets, key_file)
        prom_log = prom_home / "prometheus.log"
        processes.append(
            start(
                [
                    prometheus_binary,
                    f"--config.file={prom_config}",
                    f"--storage.tsdb.path={prom_home / 'data'}",
                    f"--web.listen-address=127.0.0.1:{ports['prometheus']}",
                ],
                clean_env(),
                prom_log,
            )
        )
        prometheus = f"http://127.0.0.1:{ports['prometheus']}"
        wait_for(lambda: answers(f"{prometheus}/-/ready"), processes[-1], prom_log)
        # Traffic for the request series, as the dashboard makes it.
        assert _get(f"{api}/users", user_key)[0] == 200
        wait_for(
            lambda: len(_vector(prometheus, "up == 1")) == len(targets),
            processes[-1],
            prom_log,
            timeout=SCRAPES_TIMEOUT_S,
        )
        yield Stack(deployment, api, metrics_key, user_key, prometheus, timescale, datetime.now(UTC))
    finally:
        for process in reversed(processes):
            stop(process)


def test_the_api_serves_the_data_as_the_read_only_role(stack: Stack) -> None:
    status, body = _get(f"{stack.api}/health")
    health = json.loads(body)
    assert status == 200 and health["database_connected"] is True
    assert health["mode"] == ("timescaledb" if stack.timescale else "postgres")
    with psycopg.connect(stack.deployment.owner_url) as conn:
        readers = conn.execute(
            "SELECT DISTINCT usename FROM pg_stat_activity WHERE datname = current_database()"
            " AND application_name NOT LIKE 'psql%' AND usename <> current_user"
        ).fetchall()
    assert ("hr_reader",) in readers, "the API's connections are the read-only role's"
    status, body = _get(f"{stack.api}/users", stack.user_key)
    assert status == 200 and json.loads(body)["users"] == ["alice"]
    status, body = _get(
        f"{stack.api}/timeseries?user_id=alice&start_date=2000-01-01&end_date=2100-01-01&interval=1d", stack.user_key
    )
    assert status == 200 and json.loads(body)["data"], body
    assert _get(f"{stack.api}/users")[0] == 401


def test_metrics_need_the_metrics_key_and_prometheus_scrapes_with_it(stack: Stack) -> None:
    assert _get(f"{stack.api}/metrics")[0] == 401
    assert _get(f"{stack.api}/metrics", stack.user_key)[0] == 403
    status, body = _get(f"{stack.api}/metrics", stack.metrics_key)
    assert status == 200 and b'hr_user_active{user_id="alice"} 1.0' in body
    [up] = _vector(stack.prometheus, 'up{job="hr-api"}')
    assert up["value"][1] == "1"


def test_every_series_a_panel_or_an_alert_uses_exists(stack: Stack) -> None:
    used = used_series()
    expected = {name for name in used if stack.timescale or not name.startswith(TIMESCALE_ONLY_PREFIXES)}
    assert len(expected) >= 15
    sampled = expected - WHILE_FLAGGED_SERIES
    missing = {name: used[name] for name in sorted(sampled) if not _vector(stack.prometheus, f"count({name})")}
    # A series sampled only while a participant is flagged: Prometheus has scraped its family from the API.
    missing |= {name: used[name] for name in sorted(expected & WHILE_FLAGGED_SERIES) if not _scraped_gauge(stack, name)}
    assert missing == {}


def _scraped_gauge(stack: Stack, name: str) -> bool:
    """Whether Prometheus scraped ``name`` from the API as a gauge (its metadata), samples or not."""
    query = urllib.parse.urlencode({"metric": name, "match_target": '{job="hr-api"}'})
    answer = json.loads(_get(f"{stack.prometheus}/api/v1/targets/metadata?{query}")[1])
    assert answer["status"] == "success", answer
    return [entry["type"] for entry in answer["data"]] == ["gauge"]


def test_every_panel_query_evaluates(stack: Stack) -> None:
    for expression in panel_expressions():
        _query(stack.prometheus, with_grafana_variables_filled(expression.expr))
    [age] = _vector(stack.prometheus, 'time() - hr_user_newest_reading_timestamp_seconds{user_id="alice"}')
    assert 0 < float(age["value"][1]) < 36 * 3600, "alice's newest reading is from yesterday"
    [readings] = _vector(stack.prometheus, 'hr_warehouse_latest_day_readings{user_id="alice"}')
    assert float(readings["value"][1]) > 1000
    sizes = {r["metric"]["datname"] for r in _vector(stack.prometheus, "pg_database_size_bytes")}
    assert {stack.deployment.warehouse_db, stack.deployment.dagster_db} <= sizes


@pytest.mark.timescale
def test_the_compression_ratio_panel_shows_what_the_columnstore_saves(stack: Stack) -> None:
    if not stack.timescale:
        pytest.skip("the columnstore exists in TimescaleDB mode only (this deployment is PostgreSQL mode)")
    before, after = "hr_warehouse_intraday_before_compression_bytes", "hr_warehouse_intraday_after_compression_bytes"
    [ratio] = _vector(stack.prometheus, f"{before} / {after}")
    assert float(ratio["value"][1]) > 1


def _rules(prometheus: str) -> list[dict[str, Any]]:
    groups = json.loads(_get(f"{prometheus}/api/v1/rules")[1])["data"]["groups"]
    return [rule for group in groups for rule in group["rules"]]


def _evaluated_at(rule: dict[str, Any]) -> datetime:
    # Prometheus writes nanoseconds; Python parses microseconds.
    return datetime.fromisoformat(re.sub(r"(\.\d{6})\d+", r"\1", rule["lastEvaluation"]))


def test_no_alert_fires_or_is_pending_on_a_healthy_deployment(stack: Stack) -> None:
    # Every rule evaluated at least once over series from every target.
    deadline = time.monotonic() + RULES_TIMEOUT_S
    while min(_evaluated_at(rule) for rule in _rules(stack.prometheus)) <= stack.scraped_at:
        assert time.monotonic() < deadline, "the rules were not evaluated after the first scrapes"
        time.sleep(1)
    rules = _rules(stack.prometheus)
    # Every rule of alerts.yml loaded (Prometheus lists the groups by name), healthy and quiet.
    in_alerts_yml = sorted(expression.where.removeprefix("alert ") for expression in alert_expressions())
    assert sorted(rule["name"] for rule in rules) == in_alerts_yml
    assert len(rules) >= 8 and all(rule["health"] == "ok" for rule in rules), rules
    assert [rule["state"] for rule in rules] == ["inactive"] * len(rules)
    assert _vector(stack.prometheus, "ALERTS") == []
