"""The alert webhook: the run-failure sensor's posts, and a webhook that is missing or broken."""

from __future__ import annotations

import socketserver
from collections.abc import Iterator
from http.server import ThreadingHTTPServer

import dagster as dg
import psycopg
import psycopg.errors
import pytest

from hr_assets.defs.alerts.sensors import hr_run_failure_sensor, run_failure_message
from hr_assets.defs.heart_rate.assets import heart_rate_assets
from hr_assets.local.alerts import AlertResource, post_alert
from hr_assets_tests.integration.orchestration import (
    Received,
    Receiver,
    _closed_port,
    _instance,
    _register,
    _resources,
    _run_failure_context,
    _serving,
    _webhook_handler,
)

# --- alerts -----------------------------------------------------------------------------------

GHOST_KEY = "2025-06-01|ghost"


def _failed_ghost_run(
    db_url: str, conn: psycopg.Connection
) -> tuple[dg.DagsterInstance, dg.DagsterRun, dg.DagsterEvent]:
    """A run of a partition whose user is not in the registry: its intraday step fails."""
    _register(conn, "user1", "UTC")
    instance = _instance("user1", "ghost")
    result = dg.materialize(
        heart_rate_assets,
        instance=instance,
        partition_key=GHOST_KEY,
        resources=_resources(db_url),
        raise_on_error=False,
    )
    assert not result.success
    run = instance.get_run_by_id(result.run_id)
    assert run is not None
    [record] = instance.all_logs(result.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
    assert record.dagster_event is not None
    return instance, run, record.dagster_event


def test_run_failure_sensor_posts_the_failed_run_to_the_webhook(
    db_url: str, conn: psycopg.Connection, receiver: Receiver
) -> None:
    instance, run, event = _failed_ghost_run(db_url, conn)

    hr_run_failure_sensor(_run_failure_context(instance, run, event, AlertResource(webhook_url=receiver.url)))

    [alert] = receiver.received
    assert alert.content_type == "application/json"
    body = alert.body
    assert body["event"] == "run_failed" and body["severity"] == "error" and body["source"] == "hr-pipeline"
    assert body["run_id"] == run.run_id and body["job"] == run.job_name
    assert body["partition"] == GHOST_KEY
    assert body["text"] == f"hr-pipeline: run {run.run_id[:8]} of {run.job_name} failed ({GHOST_KEY})"
    assert "activities_heart_intraday" in body["error"]


def test_run_failure_message_of_a_range_run_names_the_range() -> None:
    run = dg.DagsterRun(
        job_name="hr_partition_job",
        run_id="0123456789abcdef",
        tags={
            "dagster/asset_partition_range_start": "2025-06-01|user1",
            "dagster/asset_partition_range_end": "2025-06-03|user2",
        },
    )
    text, details = run_failure_message(run, "boom")
    assert text == "hr-pipeline: run 01234567 of hr_partition_job failed (2025-06-01|user1..2025-06-03|user2)"
    assert details == {
        "job": "hr_partition_job",
        "run_id": "0123456789abcdef",
        "partition": "2025-06-01|user1..2025-06-03|user2",
        "error": "boom",
    }
    unpartitioned, details = run_failure_message(dg.DagsterRun(job_name="hr_freshness_job", run_id="ffff0000"), None)
    assert unpartitioned == "hr-pipeline: run ffff0000 of hr_freshness_job failed" and details["partition"] is None


def test_run_failure_sensor_without_a_webhook_sends_nothing_and_does_not_fail(
    db_url: str, conn: psycopg.Connection, receiver: Receiver
) -> None:
    instance, run, event = _failed_ghost_run(db_url, conn)
    hr_run_failure_sensor(_run_failure_context(instance, run, event, AlertResource()))
    assert receiver.received == []
    assert AlertResource().send("run_failed", "text") is False


@pytest.fixture
def garbage_server() -> Iterator[str]:
    """A 'webhook' that answers each request with something that is not HTTP."""

    class Garbage(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            self.request.recv(65536)
            self.wfile.write(b"garbage\r\n\r\n")

    with _serving(socketserver.ThreadingTCPServer(("127.0.0.1", 0), Garbage)) as port:
        yield f"http://127.0.0.1:{port}/hook"


def test_an_unreachable_or_misconfigured_webhook_never_raises(receiver: Receiver, garbage_server: str) -> None:
    # An alert must not turn into a second failure: post_alert promises never to raise.
    for url in [
        f"http://127.0.0.1:{_closed_port()}/hook",  # nobody listening
        garbage_server,  # not an HTTP server
        "http://127.0.0.1:eighty/hook",  # a typo in HR_ALERT_WEBHOOK_URL
        "hooks.example.com/services/T000",  # no scheme
    ]:
        assert post_alert(url, {"event": "x"}) is False, url
        assert AlertResource(webhook_url=url).send("run_failed", "text") is False, url
    assert AlertResource(webhook_url=receiver.url).send("run_failed", "text", run_id="r1") is True
    assert [r.body for r in receiver.received] == [
        {"source": "hr-pipeline", "event": "run_failed", "severity": "error", "text": "text", "run_id": "r1"}
    ]


def test_a_webhook_answering_an_error_status_is_reported_as_not_accepted() -> None:
    received: list[Received] = []
    with _serving(ThreadingHTTPServer(("127.0.0.1", 0), _webhook_handler(received, 500))) as port:
        assert post_alert(f"http://127.0.0.1:{port}/hook", {"event": "x"}) is False
    assert len(received) == 1  # delivered, but refused
