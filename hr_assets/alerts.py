"""Alerts: a JSON message POSTed to a webhook (HR_ALERT_WEBHOOK_URL), off when it is unset.

The message carries ``text`` (what Slack, Mattermost and Teams incoming webhooks display)
next to structured fields (``event``, ``severity``, ``job``, ``run_id``, ``details``) for
receivers that route on them, such as an Alertmanager webhook adapter or an HTTP log.
"""

from __future__ import annotations

import http.client
import json
import logging
import urllib.request
from typing import Any

import dagster as dg

log = logging.getLogger(__name__)
TIMEOUT_S = 10


def post_alert(url: str, message: dict[str, Any]) -> bool:
    """POST ``message`` as JSON; return whether the receiver accepted it. Never raises."""
    body = json.dumps({"source": "hr-pipeline", **message}, default=str).encode()
    try:
        request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            return bool(200 <= response.status < 300)
    # OSError covers URLError, HTTPError and timeouts; ValueError a malformed URL (no scheme,
    # a non-numeric port); HTTPException a receiver that does not speak HTTP.
    except (OSError, ValueError, http.client.HTTPException) as exc:
        log.warning("alert webhook %s failed: %s", url.split("?")[0], exc)
        return False


class AlertResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """Where alerts go. Unset URL: alerts are only logged."""

    webhook_url: str | None = None

    def send(self, event: str, text: str, severity: str = "error", **details: Any) -> bool:
        log.warning("alert %s: %s", event, text)
        if not self.webhook_url:
            return False
        return post_alert(self.webhook_url, {"event": event, "severity": severity, "text": text, **details})
