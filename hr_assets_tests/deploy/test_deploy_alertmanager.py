"""Dagster's failure alerts through a real Alertmanager (Debian's prometheus-alertmanager) running the
repository's alertmanager.yml: the pipeline posts to Alertmanager's API as compose's default
HR_ALERT_WEBHOOK_URL does, Alertmanager keeps the alert and delivers it to the Slack-compatible
webhook named by its secret file. The receiver is a local HTTP server recording what Slack's
incoming-webhook endpoint would get (a POST of JSON with ``attachments``).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from hr_assets.local import localdb
from hr_assets.local.alerts import ALERTMANAGER_ALERTS_PATH, AlertResource, alertmanager_alerts
from hr_assets_tests.deploy.deploy_helpers import answers, clean_env, compose, debian_tool, start, stop, wait_for
from hr_assets_tests.deploy.monitoring_config import alertmanager_command, alertmanager_config_with

# Longer than the Dagster route's group_wait (10 s), with room for a busy machine.
DELIVERY_TIMEOUT_S = 60


class SlackReceiver:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        received = self.messages

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/services/T000/B000/secret"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def slack() -> Iterator[SlackReceiver]:
    receiver = SlackReceiver()
    yield receiver
    receiver.server.shutdown()


@pytest.fixture(scope="module")
def alertmanager(slack: SlackReceiver, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = debian_tool("prometheus-alertmanager", "prometheus-alertmanager")
    home = tmp_path_factory.mktemp("alertmanager")
    port = localdb.free_port()
    config = alertmanager_config_with(home, slack.url)
    log = home / "alertmanager.log"
    process = start(alertmanager_command(binary, config, home, port), clean_env(), log)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: answers(f"{url}/-/ready"), process, log, timeout=30)
        yield url
    finally:
        stop(process)


def _alerts(url: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{url}/api/v2/alerts", timeout=5) as response:
        alerts: list[dict[str, Any]] = json.load(response)
    return alerts


def test_compose_points_dagster_alerts_at_alertmanager_by_default() -> None:
    for service in ("dagster-code", "migrate"):
        setting = compose()["services"][service]["environment"]["HR_ALERT_WEBHOOK_URL"]
        assert setting == "${HR_ALERT_WEBHOOK_URL:-http://alertmanager:9093" + ALERTMANAGER_ALERTS_PATH + "}"


def test_a_failed_run_reaches_alertmanager_and_its_slack_receiver(alertmanager: str, slack: SlackReceiver) -> None:
    alerts = AlertResource(webhook_url=f"{alertmanager}{ALERTMANAGER_ALERTS_PATH}")
    sent = alerts.send(
        "run_failed",
        "hr-pipeline: run 1234abcd of hr_partition_job failed (2025-06-01|alice)",
        job="hr_partition_job",
        run_id="1234abcd-0000",
        partition="2025-06-01|alice",
        error="PartitionError: 2025-06-01|alice intraday: not JSON",
    )
    assert sent is True
    [alert] = [a for a in _alerts(alertmanager) if a["labels"].get("run_id") == "1234abcd-0000"]
    assert alert["labels"] == {
        "alertname": "DagsterRunFailed",
        "source": "dagster",
        "severity": "critical",
        "job": "hr_partition_job",
        "run_id": "1234abcd-0000",
        "partition": "2025-06-01|alice",
    }
    assert alert["status"]["state"] == "active"
    assert alert["annotations"]["description"] == "PartitionError: 2025-06-01|alice intraday: not JSON"
    assert alert["receivers"] == [{"name": "operators"}]

    deadline = time.monotonic() + DELIVERY_TIMEOUT_S
    while not slack.messages and time.monotonic() < deadline:
        time.sleep(0.5)
    assert slack.messages, "Alertmanager delivered nothing to the Slack webhook"
    [attachment] = slack.messages[0]["attachments"]
    assert attachment["title"] == "[critical] hr-pipeline: run 1234abcd of hr_partition_job failed (2025-06-01|alice)"
    assert attachment["text"].strip() == "PartitionError: 2025-06-01|alice intraday: not JSON"


def test_an_alert_without_the_fields_of_a_run_is_still_an_alert_alertmanager_takes(alertmanager: str) -> None:
    assert AlertResource(webhook_url=f"{alertmanager}{ALERTMANAGER_ALERTS_PATH}/").send(
        "freshness", "hr-pipeline: 1 missing", severity="warn", missing=["2025-06-01|bob"], incomplete=[]
    )
    [alert] = [a for a in _alerts(alertmanager) if a["labels"]["alertname"] == "DagsterFreshness"]
    assert alert["labels"] == {"alertname": "DagsterFreshness", "source": "dagster", "severity": "warning"}
    assert json.loads(alert["annotations"]["details"]) == {"missing": ["2025-06-01|bob"], "incomplete": []}


def test_alertmanager_alerts_resolve_a_day_after_they_start() -> None:
    start = datetime(2025, 6, 1, tzinfo=UTC)
    [alert] = alertmanager_alerts({"event": "check_failed", "text": "t", "check": "schema"}, start)
    assert (alert["startsAt"], alert["endsAt"]) == ("2025-06-01T00:00:00+00:00", "2025-06-02T00:00:00+00:00")
    assert alert["labels"]["alertname"] == "DagsterCheckFailed" and alert["labels"]["check"] == "schema"
