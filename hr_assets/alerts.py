"""Alerts: a JSON message POSTed to a webhook (HR_ALERT_WEBHOOK_URL), off when it is unset.

The message carries ``text`` (what Slack, Mattermost and Teams incoming webhooks display)
next to structured fields (``event``, ``severity``, ``job``, ``run_id``, ``details``) for
receivers that route on them, such as an Alertmanager webhook adapter or an HTTP log.
"""

from __future__ import annotations

import http.client
import json
import logging
import urllib.parse
import urllib.request
from typing import Any

import dagster as dg

from hr_assets.settings import get_settings

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
