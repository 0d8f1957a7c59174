"""Alerts: a JSON message POSTed to a webhook (HR_ALERT_WEBHOOK_URL), off when it is unset.

The message carries ``text`` (what Slack, Mattermost and Teams incoming webhooks display)
next to structured fields (``event``, ``severity``, ``job``, ``run_id``, ``details``) for
receivers that route on them, such as an HTTP log. A URL ending in Alertmanager's
``/api/v2/alerts`` gets the message as an Alertmanager alert instead (labels to route and
group on, annotations to show), so Dagster's failures join Prometheus' alerts there.
"""

from __future__ import annotations

import http.client
import json
import logging
import re
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg

from hr_assets.settings import get_settings

log = logging.getLogger(__name__)
TIMEOUT_S = 10
ALERTMANAGER_ALERTS_PATH = "/api/v2/alerts"
# A failed run is an event: Alertmanager cannot see it end, so a posted alert resolves after a day.
ALERTMANAGER_ALERT_LIFETIME = timedelta(hours=24)
# Fields short and stable enough to route and group on; the others become annotations.
_ALERTMANAGER_LABELS = ("job", "run_id", "partition", "check", "asset")
_SEVERITY_LABELS = {"error": "critical", "warn": "warning"}


# How the pipeline's errors tell the operator what to do: at the end of a line (google_oauth.reconnect_hint).
_HINT_STARTS = ("reconnect with", "re-invite with")


def action_hints(message: str) -> list[str]:
    """The distinct pieces of advice in ``message`` ("reconnect with `hr users connect alice`, or ..."), in order."""
    hints: list[str] = []
    for line in message.splitlines():
        index = min((i for i in (line.find(start) for start in _HINT_STARTS) if i >= 0), default=-1)
        if index >= 0 and (hint := line[index:].strip()) not in hints:
            hints.append(hint)
    return hints


def alertmanager_alerts(message: dict[str, Any], now: datetime) -> list[dict[str, Any]]:
    """``message`` as the body of Alertmanager's ``POST /api/v2/alerts``: one alert named after the
    event (``run_failed`` -> ``DagsterRunFailed``), labelled ``source="dagster"``."""
    event = str(message.get("event", "alert"))
    labels = {
        "alertname": "Dagster" + "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", event) if part),
        "source": "dagster",
        "severity": _SEVERITY_LABELS.get(str(message.get("severity")), "warning"),
    }
    labels.update({key: str(message[key]) for key in _ALERTMANAGER_LABELS if message.get(key) not in (None, "")})
    details = {k: v for k, v in message.items() if k not in {"event", "severity", "text", *_ALERTMANAGER_LABELS}}
    annotations = {"summary": str(message.get("text", event))}
    if message.get("error"):
        annotations["description"] = str(message["error"])
    if details:
        annotations["details"] = json.dumps(details, default=str)
    return [
        {
            "labels": labels,
            "annotations": annotations,
            "startsAt": now.isoformat(),
            "endsAt": (now + ALERTMANAGER_ALERT_LIFETIME).isoformat(),
        }
    ]


def post_alert(url: str, message: dict[str, Any]) -> bool:
    """POST ``message`` as JSON; return whether the receiver accepted it. Never raises."""
    try:
        if urllib.parse.urlsplit(url).path.rstrip("/").endswith(ALERTMANAGER_ALERTS_PATH):
            payload: Any = alertmanager_alerts(message, datetime.now(UTC))
        else:
            payload = {"source": "hr-pipeline", **message}
        body = json.dumps(payload, default=str).encode()
        request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            return bool(200 <= response.status < 300)
    # OSError covers URLError, HTTPError and timeouts; ValueError a malformed URL (no scheme,
    # a non-numeric port); HTTPException a receiver that does not speak HTTP.
    except (OSError, ValueError, http.client.HTTPException) as exc:
        # Incoming-webhook URLs carry their secret in the path: log the host only.
        log.warning("alert webhook on %s failed: %s", urllib.parse.urlsplit(url).hostname or "?", exc)
        return False


class AlertResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """Where alerts go: ``webhook_url``, else HR_ALERT_WEBHOOK_URL (read when sending, so the secret
    URL is not part of the resource's configuration shown in the UI). Neither: alerts are only logged."""

    webhook_url: str | None = None

    def send(self, event: str, text: str, severity: str = "error", **details: Any) -> bool:
        log.warning("alert %s: %s", event, text)
        url = self.webhook_url or get_settings().alert_webhook_url
        if not url:
            return False
        return post_alert(url, {"event": event, "severity": severity, "text": text, **details})
